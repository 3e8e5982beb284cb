// Human in the loop with the real clients (issue 11): the AI SDK's own chat state machine (`AbstractChat`,
// what `useChat` wraps: addToolOutput, addToolApprovalResponse, sendAutomaticallyWhen, regenerate) over the
// real @trigger.dev/sdk@4.8.3 `TriggerChatTransport`, and `readUIMessageStream`, against the `hitl` example
// agent. Usage: BASE_URL=... SECRET_KEY=... node hitl.mjs <scenario>.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { auth, configure } from "@trigger.dev/sdk";
import { chat } from "@trigger.dev/sdk/ai";
import { TriggerChatTransport } from "@trigger.dev/sdk/chat";
import {
  AbstractChat,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
  readUIMessageStream,
} from "ai";
import { runScenario } from "./runner.mjs";

const BASE = process.env.BASE_URL;
const SECRET = process.env.SECRET_KEY;
configure({ secretKey: SECRET, baseURL: BASE });

const mint = ({ chatId }) =>
  auth.createPublicToken({ scopes: { read: { sessions: chatId }, write: { sessions: chatId } } });

function transport(task, { idle = 1 } = {}) {
  const start = chat.createStartSessionAction(task, { triggerConfig: { idleTimeoutInSeconds: idle } });
  const appends = [];
  const t = new TriggerChatTransport({
    task,
    baseURL: BASE,
    accessToken: mint,
    startSession: ({ chatId, clientData }) => start({ chatId, clientData }),
    fetch: async (url, init) => {
      if (String(url).includes("/in/append")) appends.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  return { t, appends };
}

// The state `useChat` keeps in React, kept in plain fields.
class State {
  constructor() {
    this.messages = [];
    this.status = "ready";
    this.error = undefined;
  }
  pushMessage = (message) => {
    this.messages = [...this.messages, message];
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  };
  snapshot = (thing) => structuredClone(thing);
}

class NodeChat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new State() });
  }
}

function sendAutomaticallyWhen({ messages }) {
  return (
    lastAssistantMessageIsCompleteWithToolCalls({ messages }) ||
    lastAssistantMessageIsCompleteWithApprovalResponses({ messages })
  );
}

async function until(predicate, what, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function api(path) {
  const res = await fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${SECRET}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

async function liveRun(chatId) {
  const session = await api(`/api/v1/sessions/${encodeURIComponent(chatId)}`);
  const live = await api("/api/v1/runs/live");
  return live.data.find((r) => r.id === session.currentRunId);
}

// "warm": answer at once; "suspended": once the run parked (WAITING); "expired": once it ended (the stack
// runs with an 8 s suspend timeout), so the answer starts a continuation run.
async function pause(chatId, how) {
  if (how === "suspended") await until(async () => (await liveRun(chatId))?.status === "WAITING", "suspend");
  if (how === "expired") await until(async () => !(await liveRun(chatId)), "run expiry");
}

async function transcript(chatId) {
  const page = await api(`/api/v1/sessions/${encodeURIComponent(chatId)}/transcript`);
  return page.messages ?? page.data;
}

const texts = (message) => message.parts.filter((p) => p.type === "text").map((p) => p.text);
const toolPart = (message, name) => message.parts.find((p) => p.type === `tool-${name}`);

async function settled(c, predicate, what) {
  await until(() => c.status === "ready" && predicate(c.messages), what);
  await new Promise((r) => setTimeout(r, 300)); // a wrongly automatic resend would start here
  assert.equal(c.status, "ready", `${what}: no further request`);
  return c.messages;
}

async function askAndAnswer(how) {
  const chatId = `hitl-${how}-${randomUUID()}`;
  // warm: a warm window longer than the test; otherwise 1 s, then the run suspends
  const { t, appends } = transport("hitl", { idle: how === "warm" ? 15 : 1 });
  const c = new NodeChat({ id: chatId, transport: t, sendAutomaticallyWhen });
  await c.sendMessage({ text: "Plan a weekend away" });
  await settled(c, (m) => m.length === 2, "question");
  const asked = c.messages[1];
  const part = toolPart(asked, "ask_user");
  assert.equal(part.state, "input-available");
  assert.deepEqual(part.input.options.map((o) => o.label), ["Paris", "Rome", "Oslo"]);
  await pause(chatId, how);

  await c.addToolOutput({ tool: "ask_user", toolCallId: part.toolCallId, output: { optionId: "rome", label: "Rome" } });
  const messages = await settled(c, (m) => texts(m.at(-1)).includes("You picked Rome."), "answer");
  assert.equal(messages.length, 2, "one user message, one assistant message: no replayed copy");
  const [, answered] = messages;
  assert.equal(answered.id, asked.id, "the reply continues the same assistant message");
  assert.deepEqual(texts(answered), ["Let me ask you first.", "You picked Rome."]);
  const tool = toolPart(answered, "ask_user");
  assert.equal(tool.state, "output-available");
  assert.deepEqual(tool.input, part.input);
  assert.deepEqual(tool.output, { optionId: "rome", label: "Rome" });
  assert.equal(appends.length, 2, "sendAutomaticallyWhen resent once");
  assert.equal(appends[1].payload.message.id, asked.id);

  const saved = await transcript(chatId);
  assert.deepEqual(saved.map((m) => m.id), messages.map((m) => m.id), "server history = client history");
  assert.deepEqual(texts(saved[1]), texts(answered));
  const runs = (await api(`/api/v1/sessions/${encodeURIComponent(chatId)}/runs`)).data.map((r) => r.reason);
  assert.deepEqual(runs, how === "expired" ? ["initial", "continuation"] : ["initial"]);
}

async function approval(approved) {
  const chatId = `hitl-approval-${approved}-${randomUUID()}`;
  const { t, appends } = transport("hitl");
  const c = new NodeChat({ id: chatId, transport: t, sendAutomaticallyWhen });
  await c.sendMessage({ text: "email bob@example.com about lunch" });
  await settled(c, (m) => m.length === 2, "approval request");
  const part = toolPart(c.messages[1], "send_email");
  assert.equal(part.state, "approval-requested");
  assert.deepEqual(part.input, { to: "bob@example.com", subject: "lunch" });
  const asked = structuredClone(c.messages);

  await c.addToolApprovalResponse({ id: part.approval.id, approved, ...(approved ? {} : { reason: "not now" }) });
  const expected = approved ? "Email #1 sent to bob@example.com." : "I did not send the email.";
  const messages = await settled(c, (m) => texts(m.at(-1)).includes(expected), "approval answer");
  assert.equal(messages.length, 2);
  assert.equal(messages[1].id, asked[1].id);
  const tool = toolPart(messages[1], "send_email");
  assert.equal(tool.state, approved ? "output-available" : "output-denied");
  if (approved) assert.deepEqual(tool.output, { status: "sent", to: "bob@example.com", subject: "lunch", count: 1 });
  assert.equal(appends.length, 2);
  if (!approved) return;

  // The approval arrives again (another tab, a retry): nothing runs a second time.
  const resent = structuredClone(asked);
  resent[1].parts = resent[1].parts.map((p) =>
    p.type === "tool-send_email" ? { ...p, state: "approval-responded", approval: { ...p.approval, approved: true } } : p,
  );
  const stream = await t.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: resent });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.filter((ch) => ch.type === "tool-output-available").length, 0, "not sent twice");
  const saved = await transcript(chatId);
  assert.equal(toolPart(saved[1], "send_email").output.count, 1);
}

const scenarios = {
  "hitl-ask-warm": () => askAndAnswer("warm"),
  "hitl-ask-suspended": () => askAndAnswer("suspended"),
  "hitl-ask-expired": () => askAndAnswer("expired"),
  "hitl-approve": () => approval(true),
  "hitl-deny": () => approval(false),

  // The transport + readUIMessageStream alone, as a custom client would rebuild the message.
  async "hitl-read-stream"() {
    const chatId = `hitl-read-${randomUUID()}`;
    const { t } = transport("hitl");
    const user = { id: `u-${randomUUID()}`, role: "user", parts: [{ type: "text", text: "Plan a trip" }] };
    let asked;
    const first = await t.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [user] });
    for await (const message of readUIMessageStream({ stream: first })) asked = message;
    const part = toolPart(asked, "ask_user");
    assert.equal(part.state, "input-available");
    const answered = {
      ...asked,
      parts: asked.parts.map((p) => (p === part ? { ...p, state: "output-available", output: { optionId: "oslo", label: "Oslo" } } : p)),
    };
    const second = await t.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [user, answered] });
    const ids = new Set();
    let rebuilt;
    for await (const message of readUIMessageStream({ message: answered, stream: second })) {
      ids.add(message.id);
      rebuilt = message;
    }
    assert.deepEqual([...ids], [asked.id], "one id across the pause");
    assert.deepEqual(texts(rebuilt), ["Let me ask you first.", "You picked Oslo."]);
    const tool = toolPart(rebuilt, "ask_user");
    assert.deepEqual(tool.input, part.input);
    assert.deepEqual(tool.output, { optionId: "oslo", label: "Oslo" });
  },

  // Regenerate an earlier (not the last) assistant message: the client drops it and everything after
  // it; the agent's history must drop the same, so the next turns agree.
  async "regenerate-earlier"() {
    const chatId = `regen-${randomUUID()}`;
    const { t } = transport("demo-chat");
    const c = new NodeChat({ id: chatId, transport: t });
    await c.sendMessage({ text: "one" });
    await c.sendMessage({ text: "two" });
    await settled(c, (m) => m.length === 4, "two turns");
    const [first, earlier] = c.messages;
    await c.regenerate({ messageId: earlier.id });
    const messages = await settled(c, (m) => m.length === 2 && m[1].id !== earlier.id, "regenerated");
    assert.equal(messages[0].id, first.id);
    assert.match(texts(messages[1]).join(""), /You said: one\./);
    const saved = await transcript(chatId);
    assert.deepEqual(saved.map((m) => m.id), messages.map((m) => m.id), "server history = client history");
    await c.sendMessage({ text: "three" });
    const after = await settled(c, (m) => m.length === 4, "turn after regenerate");
    assert.deepEqual((await transcript(chatId)).map((m) => m.id), after.map((m) => m.id));
  },
};

// Every scenario but the suspend at once, each on its own chat: one Node start-up instead of six. The
// suspend runs alone: run concurrently with the others it twice saw its answer start a continuation
// run instead of waking the parked one (not diagnosed; alone it wakes the parked run every time).
scenarios.all = async () => {
  const names = Object.keys(scenarios).filter((n) => n !== "all" && n !== "hitl-ask-suspended");
  const results = await Promise.allSettled(names.map((n) => scenarios[n]()));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${names[i]}: ${r.reason?.stack ?? r.reason}`] : []));
  if (failed.length) throw new Error(failed.join("\n\n"));
};

await runScenario(scenarios);
