import { useChat } from "@ai-sdk/react";
import { useTriggerChatTransport } from "@trigger.dev/sdk/chat/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { closeChat, listChats, listRuns, mintChatAccessToken, startChatSession } from "./backend.js";
import { loadMessages, loadSessions, saveMessages, saveSession } from "./storage.js";

const params = new URLSearchParams(location.search);
const TASK = params.get("agent") || "demo-chat";
const CLIENT_DATA = { source: "web", timezone: Intl.DateTimeFormat().resolvedOptions().timeZone };

function currentChatId() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("chat");
  if (fromHash) return fromHash;
  const id = `web-${crypto.randomUUID().slice(0, 8)}`;
  history.replaceState(null, "", `#chat=${id}`);
  return id;
}

export function App() {
  const [chatId, setChatId] = useState(currentChatId);
  useEffect(() => {
    const onHash = () => setChatId(currentChatId());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  return <Chat key={chatId} chatId={chatId} />;
}

function Chat({ chatId }) {
  const initialSessions = useMemo(loadSessions, []);
  const initialMessages = useMemo(() => loadMessages(chatId, initialSessions[chatId]), [chatId, initialSessions]);
  const [closed, setClosed] = useState(Boolean(initialSessions[chatId]?.closed));
  const [started, setStarted] = useState(Boolean(initialSessions[chatId]));
  const transport = useTriggerChatTransport({
    task: TASK,
    baseURL: location.origin,
    accessToken: mintChatAccessToken,
    startSession: startChatSession,
    clientData: CLIENT_DATA,
    sessions: initialSessions,
    onSessionChange: (id, session) => {
      saveSession(id, session);
      if (id !== chatId) return;
      setClosed(Boolean(session?.closed));
      setStarted(Boolean(session));
    },
  });
  const { messages, sendMessage, stop, status, error } = useChat({
    id: chatId,
    transport,
    messages: initialMessages,
    resume: Boolean(initialSessions[chatId]?.isStreaming),
  });
  useEffect(() => saveMessages(chatId, messages), [chatId, messages]);

  const [input, setInput] = useState("");
  const busy = status === "submitted" || status === "streaming";
  const isClosed = closed || transport.sessionStatus?.(chatId) === "closed";

  const submit = (event) => {
    event.preventDefault();
    if (!input.trim() || busy || isClosed) return;
    sendMessage({ text: input });
    setInput("");
  };
  const preload = () => transport.preload(chatId);

  return (
    <div className="layout">
      <ChatList current={chatId} refreshKey={messages.length} />
      <main>
        <header>
          <h1>agent-sessions</h1>
          <span className="muted">
            agent <b>{TASK}</b> · chat <code data-testid="chat-id">{chatId}</code>
          </span>
        </header>
        <div className="messages" data-testid="messages">
          {messages.map((m) => (
            <div key={m.id} className={`message ${m.role}`} data-role={m.role}>
              {m.parts.filter((p) => p.type === "text").map((p) => p.text).join("")}
            </div>
          ))}
          {status === "submitted" && <div className="message assistant pending">…</div>}
        </div>
        {isClosed && <div className="banner" data-testid="closed">This chat is closed.</div>}
        {error && !isClosed && <div className="banner error">{String(error.message || error)}</div>}
        <form onSubmit={submit}>
          <input
            data-testid="input"
            value={input}
            disabled={isClosed}
            placeholder={isClosed ? "closed" : "Message"}
            onChange={(e) => setInput(e.target.value)}
          />
          <button data-testid="send" type="submit" disabled={busy || isClosed}>Send</button>
          <button data-testid="stop" type="button" disabled={!busy} onClick={() => stop()}>Stop</button>
          <button data-testid="preload" type="button" disabled={started || isClosed} onClick={preload}>Preload</button>
          <button type="button" disabled={isClosed} onClick={() => closeChat(chatId)}>Close chat</button>
          <a className="button" href={`#chat=web-${crypto.randomUUID().slice(0, 8)}`}>New chat</a>
        </form>
        <div className="muted" data-testid="status">{isClosed ? "closed" : started ? status : "not started"}</div>
      </main>
      <RunHistory chatId={chatId} refreshKey={`${status}-${messages.length}-${started}`} />
    </div>
  );
}

function ChatList({ current, refreshKey }) {
  const [chats, setChats] = useState([]);
  useEffect(() => {
    listChats().then(setChats).catch(() => setChats([]));
  }, [refreshKey]);
  return (
    <nav>
      <h2>Chats</h2>
      <ul data-testid="chats">
        {chats.map((c) => (
          <li key={c.chatId} className={c.chatId === current ? "current" : ""}>
            <a href={`#chat=${c.chatId}`}>{c.chatId}</a>
            {c.closed && <span className="muted"> (closed)</span>}
          </li>
        ))}
      </ul>
    </nav>
  );
}

function RunHistory({ chatId, refreshKey }) {
  const [runs, setRuns] = useState([]);
  const refresh = useCallback(() => listRuns(chatId).then(setRuns).catch(() => setRuns([])), [chatId]);
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, 3000);
    return () => clearInterval(timer);
  }, [refresh, refreshKey]);
  return (
    <aside>
      <h2>Runs</h2>
      <ol data-testid="runs">
        {runs.map((r) => (
          <li key={r.runId} title={r.runId}>
            <b>{r.reason}</b> <span className="muted">{new Date(r.triggeredAt).toLocaleTimeString()}</span>
          </li>
        ))}
      </ol>
    </aside>
  );
}
