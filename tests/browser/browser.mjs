// Browser scenarios: Debian's Chromium driven by playwright-core against the web chat of a running
// local stack. Usage: BASE_URL=... node browser.mjs <scenario>; exits non-zero on a failed check.
import assert from "node:assert/strict";
import { runScenario } from "../node/runner.mjs";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const BASE = process.env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const reply = (text) => `You said: ${text}. This reply is streamed word by word by demo-chat.`;
const LONG = "please give me a long answer so that there is plenty of time to interrupt the streaming reply";

async function withPage(fn) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(20000);
    await fn(page);
  } finally {
    await browser.close();
  }
}

async function openChat(page, chatId = `web-${randomUUID().slice(0, 8)}`) {
  await page.goto(`${BASE}/#chat=${chatId}`);
  await page.getByTestId("input").waitFor();
  return chatId;
}

async function send(page, text) {
  await page.getByTestId("input").fill(text);
  await page.getByTestId("send").click();
}

const assistants = (page) => page.locator('[data-role="assistant"]');

async function assistantText(page, index = -1) {
  const all = await assistants(page).allTextContents();
  return all.at(index) ?? "";
}

async function waitForText(page, expected, index = -1) {
  await page.waitForFunction(
    ([want, i]) => [...document.querySelectorAll('[data-role="assistant"]')].map((e) => e.textContent).at(i) === want,
    [expected, index],
  );
}

async function waitForWords(page, count) {
  await page.waitForFunction(
    (n) => ([...document.querySelectorAll('[data-role="assistant"]')].at(-1)?.textContent || "").split(" ").length >= n,
    count,
  );
}

const scenarios = {
  async "streamed-reply"() {
    await withPage(async (page) => {
      await openChat(page);
      await send(page, "hello browser");
      await waitForWords(page, 3);
      const partial = await assistantText(page);
      await waitForText(page, reply("hello browser"));
      assert.ok(partial.length < reply("hello browser").length && reply("hello browser").startsWith(partial),
        `saw the reply grow (first saw ${JSON.stringify(partial)})`);
      assert.equal(await page.locator('[data-role="user"]').count(), 1);
    });
  },

  async "reload-mid-stream"() {
    await withPage(async (page) => {
      await openChat(page);
      await send(page, LONG);
      await waitForWords(page, 4);
      await page.reload();
      await page.getByTestId("input").waitFor();
      await waitForText(page, reply(LONG));
      await page.waitForTimeout(500);
      assert.equal(await assistants(page).count(), 1, "one assistant message");
      assert.equal(await assistantText(page), reply(LONG), "resumed to the end with no duplicated text");
    });
  },

  async "stop-and-send-again"() {
    await withPage(async (page) => {
      await openChat(page);
      await send(page, LONG);
      await waitForWords(page, 3);
      await page.getByTestId("stop").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="send"]') && !document.querySelector('[data-testid="stop"]:not([disabled])'));
      await page.waitForTimeout(1500);
      const stopped = await assistantText(page);
      assert.ok(stopped.length < reply(LONG).length, `stopped early: ${JSON.stringify(stopped)}`);
      await send(page, "again");
      await waitForText(page, reply("again"));
    });
  },

  async "preload"() {
    await withPage(async (page) => {
      const chatId = await openChat(page);
      const before = await (await fetch(`${BASE}/web/api/chats/${chatId}/runs`)).json();
      assert.deepEqual(before, [], "no session before preload");
      await page.getByTestId("preload").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="preload"]').disabled);
      const runs = await (await fetch(`${BASE}/web/api/chats/${chatId}/runs`)).json();
      assert.deepEqual(runs.map((r) => r.reason), ["initial"], "session and first run exist before any message");
      await page.getByTestId("runs").locator("li").first().waitFor();
      await send(page, "after preload");
      await waitForText(page, reply("after preload"));
    });
  },

  async "token-recovery"() {
    await withPage(async (page) => {
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
    });
  },

  async "closed-session"() {
    await withPage(async (page) => {
      const chatId = await openChat(page);
      await send(page, "before close");
      await waitForText(page, reply("before close"));
      const res = await fetch(`${BASE}/web/api/chats/${chatId}/close`, { method: "POST", body: "{}" });
      assert.equal(res.status, 200);
      await send(page, "after close");
      await page.getByTestId("closed").waitFor();
      assert.equal(await page.getByTestId("status").textContent(), "closed");
      await page.reload();
      await page.getByTestId("closed").waitFor();
    });
  },
};

await runScenario(scenarios);
