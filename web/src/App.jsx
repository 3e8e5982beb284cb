import { useCallback, useEffect, useState } from "react";
import { ChatPage } from "./Chat.jsx";
import { listChats, listRuns } from "./backend.js";
import { newChatId } from "./events.js";


// The address says which chat is open: `#chat=<id>` (plus `&agent=<id>` for a chat not started yet).
function readRoute() {
  const params = new URLSearchParams(location.hash.slice(1));
  let chatId = params.get("chat");
  if (!chatId) {
    chatId = newChatId();
    params.set("chat", chatId);
    history.replaceState(null, "", `#${params}`);
  }
  // `?agent=` in the query still picks the agent of a new chat, as links to this page used to.
  return { chatId, agent: params.get("agent") ?? new URLSearchParams(location.search).get("agent") };
}

export function App() {
  const [route, setRoute] = useState(readRoute);
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    const onHash = () => {
      setRoute(readRoute());
      setMenuOpen(false);
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  return (
    <div className="layout" data-menu={menuOpen ? "open" : "closed"}>
      <ChatList current={route.chatId} />
      {menuOpen && <div className="scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />}
      <ChatPage
        key={`${route.chatId}/${route.agent ?? ""}`}
        chatId={route.chatId}
        agentHint={route.agent}
        onMenu={() => setMenuOpen((open) => !open)}
      />
      <RunHistory chatId={route.chatId} />
    </div>
  );
}

function useRefreshing(load, deps, everyMs) {
  const [value, setValue] = useState([]);
  const refresh = useCallback(() => load().then(setValue), deps); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, everyMs);
    addEventListener("chats-changed", refresh);
    return () => {
      clearInterval(timer);
      removeEventListener("chats-changed", refresh);
    };
  }, [refresh, everyMs]);
  return value;
}

function ChatList({ current }) {
  const chats = useRefreshing(listChats, [], 10000);
  return (
    <nav aria-label="Chats" id="chats">
      <div className="nav-head">
        <h2>Chats</h2>
        <a className="button primary" href={`#chat=${newChatId()}`} data-testid="new-chat">
          New chat
        </a>
      </div>
      {chats.length === 0 && <p className="muted">No chats yet. The ones you start show up here.</p>}
      <ul data-testid="chats">
        {chats.map((c) => (
          <li key={c.chatId} className={c.chatId === current ? "current" : ""}>
            <a href={`#chat=${encodeURIComponent(c.chatId)}`} aria-current={c.chatId === current ? "page" : undefined}>
              <span className="chat-name">{c.chatId}</span>
              <span className="chat-meta" data-testid="chat-agent">
                {c.agent}
                {c.closed && " · closed"}
              </span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function RunHistory({ chatId }) {
  const runs = useRefreshing(() => listRuns(chatId), [chatId], 3000);
  return (
    <aside aria-label="Runs">
      <h2>Runs</h2>
      {runs.length === 0 && <p className="muted">No run yet: one starts with the first message.</p>}
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
