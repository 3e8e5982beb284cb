// Browser scenarios: Debian's Chromium driven by playwright-core against the web chat of a running
// local stack. Usage: BASE_URL=... node browser.mjs [scenario ...] (all when none). One browser for
// the run; every scenario runs at a phone and a desktop width at once, each in a fresh context (its
// own localStorage: a fresh browser), and writes a screenshot per width to $SCREENSHOTS. Prints one
// JSON line per scenario and exits non-zero when any failed.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const BASE = process.env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOTS = process.env.SCREENSHOTS || new URL("./screenshots", import.meta.url).pathname;
const WIDTHS = [
  { name: "phone", width: 390, height: 760 },
  { name: "desktop", width: 1280, height: 800 },
];
const reply = (text) => `You said: ${text}. This reply is streamed word by word by demo-chat.`;
const LONG = "please give me a long answer so that there is plenty of time to interrupt the streaming reply";
const newId = () => `web-${randomUUID().slice(0, 8)}`;

// ---------------------------------------------------------------- page helpers

async function openChat(page, chatId = newId(), agent) {
  await page.goto(`${BASE}/#chat=${chatId}${agent ? `&agent=${agent}` : ""}`);
  await page.getByTestId("input").waitFor();
  return chatId;
}

async function send(page, text) {
  await page.getByTestId("input").fill(text);
  await page.getByTestId("input").press("Enter");
}

// A message's text: its text parts in order (tool cards between them left out).
const TEXTS = (role) => `[...document.querySelectorAll('[data-role="${role}"]')].map((e) => [...e.querySelectorAll('[data-testid="text"]')].map((t) => t.textContent).join(""))`;
const texts = (page, role = "assistant") => page.evaluate(TEXTS(role));

async function waitForText(page, expected, index = -1) {
  await page.waitForFunction(([js, want, i]) => eval(js).at(i) === want, [TEXTS("assistant"), expected, index]);
}

async function waitForWords(page, count) {
  await page.waitForFunction(([js, n]) => (eval(js).at(-1) || "").split(" ").length >= n, [TEXTS("assistant"), count]);
}

const idle = (page) => page.waitForFunction(() => !document.querySelector('[data-testid="stop"]'));

async function settle(page, ms = 600) {
  // Let a late replay (the bug this guards) arrive before counting messages.
  await page.waitForTimeout(ms);
}

// ---------------------------------------------------------------- scenarios (one width each)

const scenarios = {
  async "empty-state"(page, shot) {
    await openChat(page);
    const empty = page.getByTestId("empty");
    assert.match(await empty.textContent(), /Start a conversation with demo-chat/);
    assert.match(await empty.textContent(), /Enter/);
    assert.equal(await page.getByTestId("agent").textContent(), "demo-chat");
    assert.equal(await page.getByLabel("Message").count(), 1, "the composer has an accessible label");
    await page.getByRole("log").waitFor();
    await shot();
  },

  async "keyboard"(page, shot) {
    await openChat(page);
    const input = page.getByTestId("input");
    await input.fill("first line");
    await input.press("Shift+Enter");
    await input.pressSequentially("second line");
    assert.equal(await input.inputValue(), "first line\nsecond line", "Shift+Enter adds a line");
    assert.equal(await page.locator('[data-role="user"]').count(), 0, "and sends nothing");
    await input.press("Enter");
    await waitForText(page, reply("first line\nsecond line"));
    assert.equal(await input.inputValue(), "", "Enter sent and cleared it");
    assert.equal((await texts(page, "user")).length, 1);
    await shot();
  },

  async "streamed-reply"(page, shot) {
    await openChat(page);
    await send(page, LONG);
    // Stop is on screen while the reply is still growing (polled every frame, so no race with its end).
    const partial = await (await page.waitForFunction(([js]) => {
      const text = eval(js).at(-1) || "";
      return document.querySelector('[data-testid="stop"]') && text.split(" ").length >= 3 && text;
    }, [TEXTS("assistant")], { polling: "raf" })).jsonValue();
    await shot();
    await waitForText(page, reply(LONG));
    assert.ok(partial.length < reply(LONG).length && reply(LONG).startsWith(partial),
      `saw the reply grow (first saw ${JSON.stringify(partial)})`);
    assert.equal((await texts(page, "user")).length, 1);
    await idle(page);
    assert.equal(await page.getByTestId("status").textContent(), "Ready");
  },

  async "reload-mid-stream"(page, shot) {
    await openChat(page);
    await send(page, LONG);
    await waitForWords(page, 4);
    await page.reload();
    await page.getByTestId("input").waitFor();
    await waitForText(page, reply(LONG));
    await settle(page);
    assert.deepEqual(await texts(page), [reply(LONG)], "resumed to the end with no duplicated text");
    await shot();
  },

  async "stop-and-send-again"(page, shot) {
    await openChat(page);
    await send(page, LONG);
    await waitForWords(page, 3);
    await page.getByTestId("stop").click();
    await idle(page);
    const stopped = page.locator('[data-role="assistant"][data-mark="stopped"]');
    await stopped.waitFor();
    assert.equal(await stopped.getByTestId("mark").textContent(), "Stopped");
    await settle(page, 1000);
    const partial = (await texts(page)).at(-1);
    assert.ok(partial.length < reply(LONG).length, `stopped early: ${JSON.stringify(partial)}`);
    await send(page, "again");
    await waitForText(page, reply("again"));
    assert.equal((await texts(page)).at(-2), partial, "the stopped reply kept its text, the next one is its own");
    await shot();
  },

  async "preload"(page, shot) {
    const chatId = await openChat(page);
    const before = await (await fetch(`${BASE}/web/api/chats/${chatId}/runs`)).json();
    assert.deepEqual(before, [], "no session before preload");
    await page.getByTestId("preload").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="preload"]').disabled);
    const runs = await (await fetch(`${BASE}/web/api/chats/${chatId}/runs`)).json();
    assert.deepEqual(runs.map((r) => r.reason), ["initial"], "session and first run exist before any message");
    await send(page, "after preload");
    await waitForText(page, reply("after preload"));
    await shot();
  },

  async "token-recovery"(page, shot) {
    const chatId = await openChat(page);
    await send(page, "first");
    await waitForText(page, reply("first"));
    await page.evaluate((id) => {
      const all = JSON.parse(localStorage.getItem("agent-sessions:sessions"));
      const [h, p] = all[id].publicAccessToken.split(".");
      all[id].publicAccessToken = `${h}.${p}.invalidated`;
      localStorage.setItem("agent-sessions:sessions", JSON.stringify(all));
    }, chatId);
    const tokenCalls = [];
    page.on("request", (r) => r.url().endsWith("/web/api/token") && tokenCalls.push(r.url()));
    await page.reload();
    await page.getByTestId("input").waitFor();
    await send(page, "second");
    await waitForText(page, reply("second"));
    assert.equal(tokenCalls.length, 1, "recovered through the accessToken callback");
    await shot();
  },

  async "closed-session"(page, shot) {
    const chatId = await openChat(page);
    await send(page, "before close");
    await waitForText(page, reply("before close"));
    const res = await fetch(`${BASE}/web/api/chats/${chatId}/close`, { method: "POST", body: "{}" });
    assert.equal(res.status, 200);
    await send(page, "after close");
    await page.getByTestId("closed").waitFor();
    const unsent = page.locator('[data-role="user"]').last();
    await page.waitForFunction(() => document.querySelectorAll('[data-role="user"]')[1]?.dataset.mark);
    assert.equal(await unsent.getAttribute("data-mark"), "not sent: this chat is closed", "its send got 409");
    assert.equal(await page.getByTestId("status").textContent(), "Closed");
    assert.ok(await page.getByTestId("input").isDisabled());
    await shot();
    await page.reload();
    await page.getByTestId("closed").waitFor();
    assert.equal(await page.locator('[data-role="user"]').last().getAttribute("data-mark"), "not sent: this chat is closed");
  },

  // Issue 13: a Pydantic AI agent with a tool (examples/pydantic_ai_agent.py, offline) in the web chat.
  async "pydantic-ai-tool"(page, shot) {
    await openChat(page, newId(), "pydantic-weather");
    await send(page, "What is the weather in Paris?");
    await waitForText(page, "In Paris it is sunny, 21°C. ");
    const tool = page.locator('[data-role="assistant"] [data-testid="tool"][data-tool="get_weather"]');
    assert.equal(await tool.getAttribute("data-state"), "output-available");
    assert.match(await tool.getByTestId("tool-output").textContent(), /sunny, 21°C/);
    await idle(page);
    await shot();
  },

  async "agent-error"(page, shot) {
    await openChat(page, newId(), "t-fails");
    assert.equal(await page.getByTestId("agent").textContent(), "t-fails");
    await send(page, "will it rain?");
    const alert = page.getByTestId("error");
    await alert.waitFor();
    assert.match(await alert.textContent(), /the weather service is down/);
    assert.equal(await alert.getAttribute("role"), "alert");
    await page.locator('[data-role="assistant"][data-mark="failed"]').waitFor();
    assert.equal((await texts(page)).at(-1), "Looking into it", "the partial reply stays, marked failed");
    await shot();
  },

  // Issue 12 item 1: a chat opened from the sidebar in a fresh browser.
  async "fresh-browser"(page, shot, browser) {
    const chatId = newId();
    const first = await browser.newContext({ viewport: page.viewportSize() });
    try {
      const other = await first.newPage();
      await openChat(other, chatId, "t-echo");
      for (const text of ["one", "two"]) {
        await send(other, text);
        await waitForText(other, `t-echo heard: ${text} `);
        await idle(other);
      }
    } finally {
      await first.close();
    }
    await openChat(page); // a fresh browser, on a new chat, opens the old one from the sidebar
    if (page.viewportSize().width < 700) await page.getByRole("button", { name: "Show chats" }).click();
    const link = page.getByTestId("chats").locator(`a[href="#chat=${chatId}"]`);
    assert.match(await link.textContent(), /t-echo/, "the sidebar says which agent a chat uses");
    await link.click();
    await page.waitForFunction((id) => document.querySelector('[data-testid="chat-id"]')?.textContent === id, chatId);
    await page.waitForFunction(() => document.querySelectorAll('[data-role="assistant"]').length === 2);
    assert.equal(await page.getByTestId("agent").textContent(), "t-echo", "the chat's own agent");
    assert.equal(await page.getByTestId("status").textContent(), "Ready", "a started chat, not a new one");
    assert.deepEqual(await texts(page, "user"), ["one", "two"], "its history, from the transcript");
    await send(page, "three");
    await waitForText(page, "t-echo heard: three ");
    await settle(page, 1000);
    assert.deepEqual(await texts(page), ["t-echo heard: one ", "t-echo heard: two ", "t-echo heard: three "],
      "earlier replies are not replayed as new messages");
    assert.deepEqual(await texts(page, "user"), ["one", "two", "three"]);
    await shot();
  },

  async "layout"(page, shot) {
    const icon = await fetch(`${BASE}/favicon.ico`);
    assert.equal(icon.status, 200, "/favicon.ico");
    assert.match(icon.headers.get("content-type"), /^image\//);
    await openChat(page);
    await send(page, "a message long enough to wrap on a phone screen, with a-very-long-unbroken-word-that-must-wrap-too");
    await waitForText(page, reply("a message long enough to wrap on a phone screen, with a-very-long-unbroken-word-that-must-wrap-too"));
    for (const width of [360, 420, page.viewportSize().width]) {
      await page.setViewportSize({ width, height: page.viewportSize().height });
      const box = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: innerWidth,
        composer: document.querySelector(".composer").getBoundingClientRect().toJSON(),
        send: document.querySelector('[data-testid="send"]').getBoundingClientRect().toJSON(),
        height: innerHeight,
      }));
      assert.ok(box.scroll <= box.inner, `no sideways scroll at ${width} px (${box.scroll} > ${box.inner})`);
      assert.ok(box.send.right <= box.inner && box.composer.bottom <= box.height + 1, `composer in view at ${width} px`);
    }
    await shot();
    const nav = page.getByRole("navigation", { name: "Chats" });
    if (page.viewportSize().width < 700) {
      assert.ok(!(await nav.isVisible()), "the chat list folds away on a phone");
      await page.getByRole("button", { name: "Show chats" }).click();
    }
    await nav.waitFor();
  },

  // Issue 12 item 3: the same chat in two tabs (multiTab: true).
  async "multi-tab"(page, shot) {
    const chatId = await openChat(page);
    const second = await page.context().newPage();
    await second.setViewportSize(page.viewportSize());
    await openChat(second, chatId);
    await send(page, "from the first tab");
    await waitForText(second, reply("from the first tab"));
    await idle(page);
    await settle(second, 800);
    for (const tab of [page, second]) {
      assert.deepEqual(await texts(tab, "user"), ["from the first tab"]);
      assert.deepEqual(await texts(tab), [reply("from the first tab")], "no duplicated messages");
    }
    await send(second, "from the second tab");
    await waitForText(page, reply("from the second tab"));
    await idle(second);
    await settle(page, 800);
    for (const tab of [page, second]) {
      assert.deepEqual(await texts(tab, "user"), ["from the first tab", "from the second tab"]);
      assert.equal((await texts(tab)).length, 2, "two replies in each tab");
    }
    await shot();
    await second.close();
  },
};

// ---------------------------------------------------------------- human in the loop (examples/hitl_agent.py)

const SECRET = process.env.SECRET_KEY;
const asSecret = { headers: { authorization: `Bearer ${SECRET}` } };
const assistantText = async (page) => (await texts(page)).at(-1);
const tool = (page, name) => page.locator(`[data-testid="tool"][data-tool="${name}"]`).last();

async function runOf(chatId) {
  const chat = await (await fetch(`${BASE}/web/api/chats/${chatId}`)).json();
  const live = await (await fetch(`${BASE}/api/v1/runs/live`, asSecret)).json();
  return live.data.find((r) => r.sessionId === chat.sessionId);
}

async function waitAssistant(page, pattern) {
  await page.waitForFunction(
    ([source, flags]) => new RegExp(source, flags).test([...document.querySelectorAll('[data-role="assistant"]')].at(-1)?.textContent ?? ""),
    [pattern.source, pattern.flags],
  );
}

async function until(check, what, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function askAndAnswer(page, chatId, between = async () => {}) {
  await send(page, "plan a trip");
  const card = tool(page, "ask_user");
  await card.getByRole("button", { name: "Rome" }).waitFor();
  assert.equal(await card.getAttribute("data-state"), "input-available");
  assert.match(await card.textContent(), /Which city should I plan for\?/);
  await between();
  await card.getByRole("button", { name: "Rome" }).click();
  await waitAssistant(page, /You picked Rome\./);
  await idle(page);
  await settle(page);
  assert.equal(await page.locator('[data-role="assistant"]').count(), 1, "the answer continues the same assistant message");
  assert.match(await assistantText(page), /^Let me ask you first\.\s*You picked Rome\.$/);
  assert.equal(await tool(page, "ask_user").getByTestId("tool-output").textContent(), "Answer: Rome");
  assert.equal(await tool(page, "ask_user").getAttribute("data-state"), "output-available");
  const runs = await (await fetch(`${BASE}/web/api/chats/${chatId}/runs`)).json();
  return runs.map((r) => r.reason);
}

Object.assign(scenarios, {
  async "hitl-ask-warm"(page, shot) {
    const chatId = await openChat(page, newId(), "hitl");
    assert.deepEqual(await askAndAnswer(page, chatId, shot), ["initial"], "answered while the run was warm");
  },

  async "hitl-ask-after-suspend"(page) {
    const chatId = newId();
    await page.goto(`${BASE}/#chat=${chatId}&agent=hitl&idle=1`);
    await page.getByTestId("input").waitFor();
    const reasons = await askAndAnswer(page, chatId, () =>
      until(async () => (await runOf(chatId))?.status === "WAITING", "the run to suspend"),
    );
    assert.deepEqual(reasons, ["initial"], "the suspended run woke for the answer");
  },

  async "hitl-ask-continuation"(page) {
    const chatId = await openChat(page, newId(), "hitl");
    const reasons = await askAndAnswer(page, chatId, async () => {
      // The run ends while the question waits (as when it expires): the answer starts a new run.
      const run = await runOf(chatId);
      const res = await fetch(`${BASE}/api/v2/runs/${run.id}/cancel`, { method: "POST", ...asSecret });
      assert.equal(res.status, 200);
      await until(async () => (await runOf(chatId)) === undefined, "the run to end");
    });
    assert.deepEqual(reasons, ["initial", "continuation"], "a continuation run took the answer");
  },

  async "hitl-approve-once"(page, shot) {
    await openChat(page, newId(), "hitl");
    await send(page, "email bob@example.com about lunch");
    const card = tool(page, "send_email");
    await card.getByRole("button", { name: "Approve" }).waitFor();
    assert.match(await card.textContent(), /bob@example\.com/);
    await shot();
    await card.getByRole("button", { name: "Approve" }).click();
    await waitAssistant(page, /Email #1 sent to bob@example\.com\./);
    await idle(page);
    assert.equal(await tool(page, "send_email").getAttribute("data-state"), "output-available");
    assert.match(await tool(page, "send_email").getByTestId("tool-output").textContent(), /"count": 1/);
    await page.reload(); // the approval is not sent again, and the email not sent twice
    await page.getByTestId("input").waitFor();
    await settle(page);
    await send(page, "email ann@example.com about tea");
    await tool(page, "send_email").getByRole("button", { name: "Approve" }).click();
    await waitAssistant(page, /Email #2 sent to ann@example\.com\./);
    assert.equal(await page.locator('[data-role="assistant"]').count(), 2, "one assistant message per request");
  },

  async "hitl-deny"(page, shot) {
    await openChat(page, newId(), "hitl");
    await send(page, "email bob@example.com about lunch");
    await tool(page, "send_email").getByRole("button", { name: "Deny" }).click();
    await waitAssistant(page, /I did not send the email\./);
    await idle(page);
    assert.equal(await tool(page, "send_email").getAttribute("data-state"), "output-denied");
    await shot();
    await send(page, "email ann@example.com about tea");
    await tool(page, "send_email").getByRole("button", { name: "Approve" }).click();
    await waitAssistant(page, /Email #1 sent to ann@example\.com\./);
  },

  async "hitl-reload-pending"(page) {
    await openChat(page, newId(), "hitl");
    await send(page, "plan a trip");
    await tool(page, "ask_user").getByRole("button", { name: "Oslo" }).waitFor();
    await idle(page);
    await page.reload(); // the question is still there after a reload, and still answerable
    const card = tool(page, "ask_user");
    await card.getByRole("button", { name: "Oslo" }).click();
    await waitAssistant(page, /You picked Oslo\./);
    await idle(page);
    await settle(page);
    assert.equal(await page.locator('[data-role="assistant"]').count(), 1);
  },
});

// ---------------------------------------------------------------- runner

async function runOne(browser, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await Promise.all(
    WIDTHS.map(async (size) => {
      const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
      const page = await context.newPage();
      page.setDefaultTimeout(Number(process.env.BROWSER_TIMEOUT_MS || 30000));
      const shot = () => page.screenshot({ path: join(SCREENSHOTS, `${name}-${size.width}.png`) });
      try {
        await scenarios[name](page, shot, browser);
      } catch (err) {
        await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size.width}-failed.png`) }).catch(() => {});
        err.message = `[${size.width} px] ${err.message}`;
        throw err;
      } finally {
        await context.close();
      }
    }),
  );
}

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios);
const unknown = names.filter((n) => !scenarios[n]);
if (unknown.length) {
  console.error(`unknown scenario ${unknown.join(", ")}; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let failed = 0;
for (const name of names) {
  const started = Date.now();
  try {
    await runOne(browser, name);
    console.log(JSON.stringify({ scenario: name, ok: true, ms: Date.now() - started }));
  } catch (err) {
    failed += 1;
    console.log(JSON.stringify({ scenario: name, ok: false, ms: Date.now() - started, error: err?.stack ?? String(err) }));
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
