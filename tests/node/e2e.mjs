// End-to-end scenarios: the unmodified @trigger.dev/sdk@4.8.3 clients against a running local stack.
// Usage: BASE_URL=... SECRET_KEY=... node e2e.mjs <scenario>. Exits non-zero on the first failed check.
import assert from "node:assert/strict";
import { runScenario } from "./runner.mjs";
import { randomUUID } from "node:crypto";
import { auth, configure, sessions } from "@trigger.dev/sdk";
import { chat, defaultStorage } from "@trigger.dev/sdk/ai";
import { AgentChat, TriggerChatTransport } from "@trigger.dev/sdk/chat";

const BASE = process.env.BASE_URL;
const SECRET = process.env.SECRET_KEY;
const TASK = "demo-chat";
configure({ secretKey: SECRET, baseURL: BASE });

const start = chat.createStartSessionAction(TASK);
const mint = ({ chatId }) =>
  auth.createPublicToken({ scopes: { read: { sessions: chatId }, write: { sessions: chatId } } });

function expectedReply(text) {
  return `You said: ${text}. This reply is streamed word by word by demo-chat.`;
}

function recordingFetch(log) {
  return async (url, init, ctx) => {
    const headers = new Headers(init.headers);
    log.push({ url, method: init.method ?? "GET", headers: Object.fromEntries(headers.entries()), ctx });
    return fetch(url, init);
  };
}

function transport(extra = {}) {
  const calls = { accessToken: 0, startSession: 0, requests: [] };
  const t = new TriggerChatTransport({
    task: TASK,
    baseURL: BASE,
    accessToken: async (params) => {
      calls.accessToken += 1;
      return mint(params);
    },
    startSession: async ({ chatId, clientData }) => {
      calls.startSession += 1;
      return start({ chatId, clientData });
    },
    fetch: recordingFetch(calls.requests),
    ...extra,
  });
  return { t, calls };
}

function userMessage(text) {
  return { id: `u-${randomUUID()}`, role: "user", parts: [{ type: "text", text }] };
}

async function send(t, chatId, text, opts = {}) {
  return t.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [userMessage(text)],
    abortSignal: opts.abortSignal,
  });
}

async function drain(stream, { stopAfter, onChunk } = {}) {
  const chunks = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    if (onChunk) await onChunk(value, chunks);
    if (stopAfter && chunks.length >= stopAfter) {
      reader.releaseLock();
      return { chunks, open: true };
    }
  }
  return { chunks, open: false };
}

const textOf = (chunks) =>
  chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join("");

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function appendRaw(chatId, token, body, partId) {
  const res = await fetch(`${BASE}/realtime/v1/sessions/${encodeURIComponent(chatId)}/in/append`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(partId ? { "x-part-id": partId } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// Runs `fn` as on a backend whose clock is `ms` ahead: jose reads the global Date when it signs.
async function withClockAhead(ms, fn) {
  const RealDate = globalThis.Date;
  class AheadDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + ms);
      else super(...args);
    }
    static now() {
      return RealDate.now() + ms;
    }
  }
  globalThis.Date = AheadDate;
  try {
    return await fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

const scenarios = {
  // Issue 11 item 5: the 4.8.3 client's own transcript read (defaultStorage -> GET …/transcript).
  async "load-transcript"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t } = transport();
    await drain(await send(t, chatId, "one"));
    await drain(await send(t, chatId, "two"));
    const load = chat.createLoadTranscriptAction(defaultStorage, { limit: 2 });
    let page;
    for (let i = 0; i < 100; i++) {
      page = await load({ chatId });
      if (page.messages.at(-1)?.parts?.some((p) => p.text === expectedReply("two"))) break;
      await new Promise((r) => setTimeout(r, 100)); // the history save follows the turn-complete
    }
    assert.deepEqual(page.messages.map((m) => m.role), ["user", "assistant"], "the newest two, oldest first");
    assert.equal(page.nextCursor, page.messages[0].id, "older messages exist");
    assert.equal(page.state, null);
    const older = await load({ chatId, before: page.nextCursor });
    assert.deepEqual(older.messages.map((m) => m.role), ["user", "assistant"]);
    assert.equal(older.nextCursor, undefined);
    // A fresh client seeded with the transcript's cursor reads only the next turn.
    const { t: fresh } = transport();
    fresh.seedResumeCursor(chatId, page.cursors.lastOutEventId);
    const third = await withTimeout(drain(await send(fresh, chatId, "three")), 20000, "third turn");
    assert.equal(textOf(third.chunks), expectedReply("three"), "no earlier turn replayed");
  },

  async "first-send"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t, calls } = transport();
    const { chunks, open } = await withTimeout(drain(await send(t, chatId, "hello")), 20000, "first turn");
    assert.equal(open, false, "turn-complete closes the stream");
    assert.equal(textOf(chunks), expectedReply("hello"));
    assert.deepEqual(
      [...new Set(chunks.map((c) => c.type))],
      ["start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "finish"],
    );
    assert.equal(calls.startSession, 1);
    assert.equal(calls.accessToken, 0);
    const state = t.getSession(chatId);
    assert.ok(state.publicAccessToken && state.lastEventId !== undefined, "state persisted");
    assert.equal(state.isStreaming, false);
    const append = calls.requests.find((r) => r.url.endsWith("/in/append"));
    assert.ok(append.headers["x-part-id"], "append carries X-Part-Id");
  },

  async "second-turn-resumes"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t, calls } = transport();
    await drain(await send(t, chatId, "one"));
    const cursor = t.getSession(chatId).lastEventId;
    const second = await withTimeout(drain(await send(t, chatId, "two")), 20000, "second turn");
    assert.equal(textOf(second.chunks), expectedReply("two"), "no replay of the first turn");
    const subscribes = calls.requests.filter((r) => r.method === "GET" && r.url.endsWith("/out"));
    assert.equal(subscribes.at(-1).headers["last-event-id"], String(cursor));
  },

  async "stop-mid-turn"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t } = transport();
    const first = await send(t, chatId, "a long question that takes a while to answer");
    const seen = [];
    await withTimeout(
      drain(first, {
        onChunk: async (c, all) => {
          seen.push(c);
          if (all.filter((x) => x.type === "text-delta").length === 2) assert.equal(await t.stopGeneration(chatId), true);
        },
      }),
      20000,
      "stopped turn",
    );
    assert.ok(textOf(seen).length < expectedReply("a long question that takes a while to answer").length);
    const next = await withTimeout(drain(await send(t, chatId, "after stop")), 20000, "turn after stop");
    assert.equal(textOf(next.chunks), expectedReply("after stop"));
  },

  async "token-refresh"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t, calls } = transport();
    await drain(await send(t, chatId, "first"));
    const state = t.getSession(chatId);
    const [h, p] = state.publicAccessToken.split(".");
    t.setSession(chatId, { ...state, publicAccessToken: `${h}.${p}.corrupted-signature` });
    const next = await withTimeout(drain(await send(t, chatId, "after refresh")), 20000, "refreshed turn");
    assert.equal(textOf(next.chunks), expectedReply("after refresh"));
    assert.equal(calls.accessToken, 1, "one refresh through accessToken()");
    const appends = calls.requests.filter((r) => r.url.endsWith("/in/append"));
    assert.equal(appends.at(-1).headers["x-part-id"], appends.at(-2).headers["x-part-id"], "retry keeps X-Part-Id");
    const expired = await auth.createPublicToken({
      scopes: { read: { sessions: chatId }, write: { sessions: chatId } },
      // Past the server's 60 s clock leeway, so certainly expired.
      expirationTime: Math.floor(Date.now() / 1000) - 120,
    });
    t.setSession(chatId, { ...t.getSession(chatId), publicAccessToken: expired });
    const third = await withTimeout(drain(await send(t, chatId, "after expiry")), 20000, "expired-token turn");
    assert.equal(textOf(third.chunks), expectedReply("after expiry"));
    assert.equal(calls.accessToken, 2);
  },

  async "reconnect-mid-turn"() {
    const chatId = `e2e-${randomUUID()}`;
    const a = transport();
    const stream = await send(a.t, chatId, "resume me please");
    await drain(stream, { stopAfter: 5 });
    const saved = JSON.parse(JSON.stringify(a.t.getSession(chatId)));
    assert.equal(saved.isStreaming, true);
    const b = transport({ sessions: { [chatId]: saved } });
    const resumed = await b.t.reconnectToStream({ chatId });
    assert.ok(resumed, "reconnect returns a stream mid-turn");
    const { chunks } = await withTimeout(drain(resumed), 20000, "resumed stream");
    assert.equal(textOf(chunks), expectedReply("resume me please"), "whole turn, nothing lost or repeated");
    assert.equal(chunks.filter((c) => c.type === "start").length, 1);
  },

  async "settled-reconnect"() {
    const chatId = `e2e-${randomUUID()}`;
    const a = transport();
    await drain(await send(a.t, chatId, "done already"));
    const saved = { ...a.t.getSession(chatId), isStreaming: true };
    delete saved.activeInputSeq;
    const b = transport({ sessions: { [chatId]: saved } });
    const started = Date.now();
    const stream = await b.t.reconnectToStream({ chatId });
    assert.ok(stream, "a streaming-marked chat reconnects");
    const { chunks } = await withTimeout(drain(stream), 10000, "settled");
    assert.equal(chunks.length, 0);
    assert.ok(Date.now() - started < 5000, "settled peek closes at once");
    const peek = b.calls.requests.find((r) => r.url.endsWith("/out"));
    assert.equal(peek.headers["x-peek-settled"], "1");
    assert.equal(b.t.getSession(chatId).isStreaming, false, "settled EOF clears isStreaming");
  },

  async "duplicate-part-id"() {
    const chatId = `e2e-${randomUUID()}`;
    const created = await start({ chatId });
    const body = { kind: "message", payload: { chatId, trigger: "action", action: { n: 1 } } };
    const first = await appendRaw(chatId, created.publicAccessToken, body, "dup-part");
    const again = await appendRaw(chatId, created.publicAccessToken, body, "dup-part");
    assert.equal(first.status, 200);
    assert.deepEqual(again.body, first.body);
    const records = await fetch(`${BASE}/realtime/v1/sessions/${chatId}/in/records`, {
      headers: { authorization: `Bearer ${SECRET}` },
    }).then((r) => r.json());
    assert.equal(records.records.filter((r) => r.id === "dup-part").length, 1);
  },

  async "close-then-send"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t } = transport();
    await drain(await send(t, chatId, "before close"));
    const closed = await sessions.close(chatId, { reason: "finished" });
    assert.ok(closed.closedAt);
    await assert.rejects(send(t, chatId, "after close"));
    assert.equal(t.sessionStatus(chatId), "closed");
    assert.equal(t.getSession(chatId).closedReason, "finished");
  },

  async "agent-chat"() {
    const agentChat = new AgentChat({ agent: TASK, id: `e2e-${randomUUID()}` });
    const result = await withTimeout((await agentChat.sendMessage("from AgentChat")).result(), 20000, "AgentChat");
    assert.equal(result.text, expectedReply("from AgentChat"));
    const second = await withTimeout((await agentChat.sendMessage("again")).result(), 20000, "AgentChat 2");
    assert.equal(second.text, expectedReply("again"));
  },

  async "retrieve-both-forms"() {
    const chatId = `e2e-${randomUUID()}`;
    const created = await start({ chatId });
    const byExternal = await sessions.retrieve(chatId);
    const byFriendly = await sessions.retrieve(created.sessionId);
    assert.equal(byExternal.id, created.sessionId);
    assert.equal(byFriendly.externalId, chatId);
    assert.equal(byExternal.currentRunId, created.runId);
  },

  async "long-poll-window"() {
    const chatId = `e2e-${randomUUID()}`;
    const { t, calls } = transport({ streamTimeoutSeconds: 1 });
    const long = "outlast the one second window with a message long enough to keep the agent streaming for a while";
    const { chunks } = await withTimeout(drain(await send(t, chatId, long)), 30000, "windowed");
    assert.equal(textOf(chunks), expectedReply(long));
    const subscribes = calls.requests.filter((r) => r.method === "GET" && r.url.endsWith("/out"));
    assert.ok(subscribes.length >= 2, `resubscribed (${subscribes.length} subscriptions)`);
  },

  async "skewed-backend-clock"() {
    // Every PAT the browser holds is signed by a backend whose clock runs 1.5 s ahead of the server's.
    const chatId = `e2e-${randomUUID()}`;
    const aheadMs = 1500;
    const skewedMint = (params) => withClockAhead(aheadMs, () => mint(params));
    const { t, calls } = transport({
      accessToken: async (params) => {
        calls.accessToken += 1;
        return skewedMint(params);
      },
      startSession: async ({ chatId: id, clientData }) => {
        calls.startSession += 1;
        const started = await start({ chatId: id, clientData });
        return { ...started, publicAccessToken: await skewedMint({ chatId: id }) };
      },
    });
    const first = await withTimeout(drain(await send(t, chatId, "ahead")), 20000, "skewed first turn");
    assert.equal(textOf(first.chunks), expectedReply("ahead"));
    assert.equal(calls.accessToken, 0, "the skewed PAT was accepted, no refresh needed");
    const skewed = await skewedMint({ chatId });
    assert.ok(claimsOf(skewed).iat > Date.now() / 1000, "the signer's iat really is ahead");
    t.setSession(chatId, { ...t.getSession(chatId), publicAccessToken: skewed });
    const second = await withTimeout(drain(await send(t, chatId, "still ahead")), 20000, "skewed second turn");
    assert.equal(textOf(second.chunks), expectedReply("still ahead"));
    assert.equal(calls.accessToken, 0);
  },

  // Ids with percent signs, slashes, spaces, Unicode and a colon: the transport (encodeURIComponent)
  // and sessions.retrieve reach the session named, over .in/append and the .out SSE alike.
  async "odd-ids"() {
    const suffix = randomUUID().slice(0, 8);
    const ids = ["a%41", "50%25off", "a/b/out", "a b", "日本語のチャット", "emoji-😀", "colon:in:id"].map(
      (id) => `${id}-${suffix}`,
    );
    for (const chatId of ids) {
      const { t, calls } = transport();
      const { chunks } = await withTimeout(drain(await send(t, chatId, "odd")), 20000, chatId);
      assert.equal(textOf(chunks), expectedReply("odd"), chatId);
      const got = await sessions.retrieve(chatId);
      assert.equal(got.externalId, chatId);
      assert.ok(calls.requests.some((r) => r.url.includes(encodeURIComponent(chatId))), chatId);
    }
  },

  async "trigger-token-refused"() {
    const chatId = `e2e-${randomUUID()}`;
    await start({ chatId });
    const triggerToken = await chat.createAccessToken(TASK);
    const res = await appendRaw(chatId, triggerToken, { kind: "stop" });
    assert.equal(res.status, 403);
    assert.ok(res.body.error);
  },
};

// Driven from tests/e2e/test_limits.py against a stack whose `.in/append` limit is 3 per 4 s window.
// The ApiClient path (`sessions.open().in.send`) meets a 429, waits until x-ratelimit-reset and
// resends with the same X-Part-Id by itself; the message lands once and the agent answers it.
scenarios["rate-limited-send"] = async () => {
  const chatId = `e2e-${randomUUID()}`;
  await start({ chatId });
  const token = await mint({ chatId });
  const log = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    const response = await realFetch(url, init);
    if (String(url).endsWith("/in/append") && init?.method === "POST") {
      const headers = new Headers(init.headers);
      log.push({ status: response.status, partId: headers.get("x-part-id"), reset: response.headers.get("x-ratelimit-reset") });
    }
    return response;
  };
  // Fill the window (stop records are ignored between turns) until the server refuses, far
  // enough from the window's end that the send below meets the same full window.
  for (let i = 0; ; i++) {
    assert.ok(i < 20, "the limit never refused an append");
    const res = await realFetch(`${BASE}/realtime/v1/sessions/${encodeURIComponent(chatId)}/in/append`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "x-part-id": `fill-${i}` },
      body: JSON.stringify({ kind: "stop" }),
    });
    assert.ok(res.headers.get("x-ratelimit-limit"), "every append carries the rate headers");
    if (res.status === 429 && Number(res.headers.get("x-ratelimit-reset")) - Date.now() > 1500) break;
    if (res.status === 429) await new Promise((r) => setTimeout(r, Number(res.headers.get("x-ratelimit-reset")) - Date.now() + 10));
  }
  const text = "sent through a rate limit";
  const payload = { chatId, trigger: "submit-message", message: userMessage(text) };
  try {
    await withTimeout(sessions.open(chatId).in.send({ kind: "message", payload }), 20000, "in.send");
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.equal(log[0].status, 429, JSON.stringify(log));
  assert.equal(log.at(-1).status, 200, JSON.stringify(log));
  assert.ok(log.every((c) => c.partId === log[0].partId), "every resend reuses the X-Part-Id");
  const inRecords = await (await realFetch(`${BASE}/realtime/v1/sessions/${encodeURIComponent(chatId)}/in/records`, {
    headers: { authorization: `Bearer ${SECRET}` },
  })).json();
  const landed = inRecords.records.filter((r) => r.data.includes(text));
  assert.equal(landed.length, 1, "the message landed exactly once");
  assert.equal(landed[0].id, log[0].partId);
  // The agent answers it: its reply reaches .out.
  const deadline = Date.now() + 20000;
  for (;;) {
    const out = await (await realFetch(`${BASE}/realtime/v1/sessions/${encodeURIComponent(chatId)}/out/records`, {
      headers: { authorization: `Bearer ${SECRET}` },
    })).json();
    if (textOf(out.records.map((r) => r.data)) === expectedReply(text)) break;
    assert.ok(Date.now() < deadline, `no reply to the rate-limited message: ${JSON.stringify(out.records).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

// Interop halves driven from Python (tests/e2e/test_interop.py).
scenarios["send-existing"] = async () => {
  const chatId = process.env.CHAT_ID;
  const { t } = transport({ sessions: { [chatId]: { publicAccessToken: process.env.PAT } } });
  const { chunks } = await withTimeout(drain(await send(t, chatId, "from node")), 20000, "node send");
  assert.equal(textOf(chunks), expectedReply("from node"));
};

scenarios["watch"] = async () => {
  const chatId = process.env.CHAT_ID;
  const token = process.env.READ_TOKEN;
  const t = new TriggerChatTransport({
    task: TASK, baseURL: BASE, watch: true, accessToken: () => token,
    sessions: { [chatId]: { publicAccessToken: token, isStreaming: true } },
  });
  const stream = await t.reconnectToStream({ chatId });
  assert.ok(stream, "watch mode subscribes");
  console.log("watching");
  const chunks = [];
  const reader = stream.getReader();
  await withTimeout((async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      if (value.type === "finish") break;
    }
  })(), 30000, "watch");
  await reader.cancel();
  console.log(JSON.stringify({ watched: textOf(chunks) }));
};

// Bounded .out, against a stack started with AGENT_SESSIONS_OUT_RETENTION_SECONDS=0 (tests/e2e/test_retention.py):
// a reader whose cursor was trimmed away gets a `trim` command record, then the retained turn whole.
scenarios["resume-after-trim"] = async () => {
  const chatId = `e2e-${randomUUID()}`;
  const a = transport();
  await withTimeout(drain(await send(a.t, chatId, "one")), 20000, "turn one");
  const stale = JSON.parse(JSON.stringify(a.t.getSession(chatId)));
  const staleCursor = Number(stale.lastEventId);
  assert.ok(Number.isInteger(staleCursor), "a cursor after turn one");
  await withTimeout(drain(await send(a.t, chatId, "two")), 20000, "turn two");
  await withTimeout(drain(await send(a.t, chatId, "three")), 20000, "turn three");

  // Turn three's run trims turn two (and with it the stale cursor) after its turn-complete.
  const outUrl = `${BASE}/realtime/v1/sessions/${encodeURIComponent(chatId)}/out`;
  const secret = { authorization: `Bearer ${SECRET}` };
  let firstRetained = staleCursor + 1;
  const deadline = Date.now() + 15000;
  while (firstRetained <= staleCursor + 1 || firstRetained === undefined) {
    assert.ok(Date.now() < deadline, "turn two was never trimmed");
    const page = await fetch(`${outUrl}/records?afterEventId=${staleCursor}`, { headers: secret }).then((r) => r.json());
    firstRetained = page.records[0]?.seqNum;
    if (firstRetained <= staleCursor + 1) await new Promise((r) => setTimeout(r, 100));
  }

  // On the wire: the first record after a trimmed cursor is an S2 trim command just below what is kept.
  const raw = await fetch(outUrl, {
    headers: { ...secret, accept: "text/event-stream", "timeout-seconds": "1", "last-event-id": String(staleCursor) },
  }).then((r) => r.text());
  const firstBatch = JSON.parse(raw.split("\n").find((line) => line.startsWith("data: {")).slice(6));
  assert.deepEqual(firstBatch.records[0].headers, [["", "trim"]]);
  assert.equal(firstBatch.records[0].seq_num, firstRetained - 1);
  assert.equal(firstBatch.records[1].seq_num, firstRetained);

  // The real client, reloaded with the stale cursor: no error, the retained turn (three) whole,
  // its cursor caught up with the writer's, and the next send answered.
  const b = transport({ sessions: { [chatId]: { ...stale, isStreaming: true, activeInputSeq: undefined } } });
  const resumed = await b.t.reconnectToStream({ chatId });
  assert.ok(resumed, "a reload with a trimmed cursor reconnects");
  const { chunks } = await withTimeout(drain(resumed), 20000, "resumed after trim");
  assert.equal(textOf(chunks), expectedReply("three"), "the retained turn, nothing of the trimmed one");
  assert.equal(chunks.filter((c) => c.type === "start").length, 1);
  assert.equal(b.t.getSession(chatId).lastEventId, a.t.getSession(chatId).lastEventId);
  const four = await withTimeout(drain(await send(b.t, chatId, "four")), 20000, "send after trim");
  assert.equal(textOf(four.chunks), expectedReply("four"));
};

await runScenario(scenarios);
