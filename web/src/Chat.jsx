import { useChat } from "@ai-sdk/react";
import { useLoadTranscript, useMultiTabChat, useTriggerChatTransport } from "@trigger.dev/sdk/chat/react";
import {
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
} from "ai";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { DEFAULT_AGENT, chatsChanged, newChatId } from "./events.js";
import { closeChat, getChat, listAgents, loadTranscript, mintChatAccessToken, startChatSession } from "./backend.js";
import { Message, getToolName } from "./Message.jsx";
import { loadMarks, loadMessages, loadSessions, saveMarks, saveMessages, saveSession } from "./storage.js";

const CLIENT_DATA = { source: "web", timezone: Intl.DateTimeFormat().resolvedOptions().timeZone };
const HISTORY_PAGE = 50;

// Which agent a chat belongs to and whether it is closed come from the server, so a chat opened
// from the sidebar in a fresh browser opens as it is, not as this browser's defaults.
export function ChatPage({ chatId, agentHint, onMenu }) {
  const [info, setInfo] = useState(null);
  useEffect(() => {
    getChat(chatId)
      .then(setInfo)
      .catch(() => setInfo({ chatId, started: false }));
  }, [chatId]);
  if (!info) return <Shell chatId={chatId} onMenu={onMenu} notice="Loading chat…" />;
  const agent = info.agent || agentHint || DEFAULT_AGENT;
  return <ChatWithHistory key={agent} chatId={chatId} agent={agent} info={info} onMenu={onMenu} />;
}

function ChatWithHistory({ chatId, agent, info, onMenu }) {
  const saved = useMemo(() => loadSessions()[chatId], [chatId]);
  const local = useMemo(() => loadMessages(chatId, saved), [chatId, saved]);
  const [closed, setClosed] = useState(Boolean(info.closed || saved?.closed));
  const [started, setStarted] = useState(Boolean(info.started || saved));
  const transport = useTriggerChatTransport({
    task: agent,
    baseURL: location.origin,
    accessToken: mintChatAccessToken,
    startSession: startChatSession,
    clientData: CLIENT_DATA,
    sessions: saved ? { [chatId]: saved } : {},
    multiTab: true,
    onSessionChange: (id, session) => {
      saveSession(id, session);
      if (id !== chatId) return;
      if (session) setStarted(true);
      if (session?.closed) setClosed(true);
      chatsChanged();
    },
  });
  // No copy in this browser: render the saved transcript, and let the transport resume just past it
  // (useLoadTranscript seeds its cursor) so earlier turns are never replayed as new messages.
  const fromServer = info.started && local.length === 0;
  const history = useLoadTranscript(fromServer ? chatId : undefined, loadTranscript, {
    transport,
    limit: HISTORY_PAGE,
  });
  if (history.isLoading) return <Shell chatId={chatId} agent={agent} onMenu={onMenu} notice="Loading history…" />;
  return (
    <ChatView
      chatId={chatId}
      agent={agent}
      started={started}
      transport={transport}
      initialMessages={fromServer ? history.messages : local}
      olderCursor={fromServer ? history.nextCursor : undefined}
      historyError={history.error}
      resume={Boolean(saved?.isStreaming)}
      closed={closed}
      setClosed={setClosed}
      onMenu={onMenu}
    />
  );
}

function Shell({ chatId, agent, onMenu, notice }) {
  return (
    <main>
      <Header chatId={chatId} agent={agent} onMenu={onMenu} />
      <div className="messages">
        <p className="notice" role="status">
          {notice}
        </p>
      </div>
    </main>
  );
}

function Header({ chatId, agent, onMenu, children }) {
  return (
    <header>
      <button type="button" className="menu-button" onClick={onMenu} aria-controls="chats" aria-label="Show chats">
        ☰
      </button>
      <div className="title">
        <h1 data-testid="agent">{agent ?? "…"}</h1>
        <code data-testid="chat-id" title="chat id">
          {chatId}
        </code>
      </div>
      <div className="actions">{children}</div>
    </header>
  );
}

const cursorOf = (chatId) =>
  loadTranscript({ chatId, limit: 1 }).then((page) => page.cursors?.lastOutEventId, () => undefined);

const size = (message) => (message ? JSON.stringify(message).length : 0);
// Messages in this chat only grow: more messages, or the same last message with more in it.
function isNewer(incoming, current) {
  if (incoming.length !== current.length) return incoming.length > current.length;
  const [a, b] = [incoming.at(-1), current.at(-1)];
  return a?.id !== b?.id || size(a) > size(b);
}

const isClosedError = (err) => err?.status === 409 || err?.code === "session_closed";

function ChatView({ chatId, agent, started, transport, initialMessages, olderCursor, historyError, resume, closed, setClosed, onMenu }) {
  const [marks, setMarks] = useState(() => loadMarks(chatId));
  const mark = useCallback(
    (id, value) =>
      setMarks((all) => {
        const next = { ...all, [id]: value };
        saveMarks(chatId, next);
        return next;
      }),
    [chatId],
  );
  const messagesRef = useRef(initialMessages);
  const {
    messages,
    setMessages,
    sendMessage,
    addToolOutput,
    addToolApprovalResponse,
    stop: stopLocally,
    status,
    error,
    clearError,
  } = useChat({
    id: chatId,
    transport,
    messages: initialMessages,
    resume,
    // A client tool answered or every approval decided: resend the assistant message, and the agent
    // carries on in the same message (the reference frontend's wiring).
    sendAutomaticallyWhen: (options) =>
      lastAssistantMessageIsCompleteWithToolCalls(options) || lastAssistantMessageIsCompleteWithApprovalResponses(options),
    onError: (err) => {
      // A send that never reached the agent (409 closed, network) leaves its message unsent.
      const last = messagesRef.current.at(-1);
      const sendFailed = isClosedError(err) || err?.status !== undefined || err instanceof TypeError;
      if (last?.role === "user" && sendFailed) {
        mark(last.id, isClosedError(err) ? "not sent: this chat is closed" : "not sent");
      } else if (last?.role === "assistant") {
        mark(last.id, "failed");
      }
      if (isClosedError(err)) setClosed(true);
    },
    onFinish: ({ messages: final }) => {
      // The hook broadcasts only while this tab holds the claim, which the turn-complete releases
      // before the last chunks render: hand the other tabs the finished turn.
      transport.broadcastMessages(chatId, final);
      chatsChanged();
    },
  });
  messagesRef.current = messages;
  const busyRef = useRef(false);
  busyRef.current = status === "submitted" || status === "streaming";
  // Another tab's copy replaces ours only when it is newer and this tab is not answering its own
  // send: a tab that turns read-only broadcasts the copy it had, which must not cut our stream short.
  const fromOtherTab = useCallback(
    (incoming) => {
      if (busyRef.current || transport.hasClaim(chatId)) return;
      if (isNewer(incoming, messagesRef.current)) setMessages(incoming);
    },
    [chatId, setMessages, transport],
  );
  const { isReadOnly } = useMultiTabChat(transport, chatId, messages, fromOtherTab);
  useEffect(() => saveMessages(chatId, messages), [chatId, messages]);

  const busy = status === "submitted" || status === "streaming";
  const stop = useCallback(() => {
    const last = messagesRef.current.at(-1);
    if (last?.role === "assistant") mark(last.id, "stopped");
    stopLocally();
    transport.stopGeneration(chatId);
  }, [chatId, mark, stopLocally, transport]);

  const send = async (text) => {
    if (error) clearError();
    if (!transport.getSession(chatId) && (started || messages.length > 0)) {
      // This tab has no session for a chat that has turns (another tab or browser started it):
      // resume after what is already shown, or the first read would replay every earlier turn.
      const cursor = loadSessions()[chatId]?.lastEventId ?? (await cursorOf(chatId));
      if (cursor) transport.seedResumeCursor(chatId, cursor);
    }
    sendMessage({ text });
  };
  const [olderError, setOlderError] = useState(null);
  const [older, setOlder] = useState(olderCursor);
  const loadOlder = async () => {
    try {
      const page = await loadTranscript({ chatId, limit: 50, before: older });
      setMessages((current) => [...page.messages, ...current]);
      setOlder(page.nextCursor);
    } catch (err) {
      setOlderError(String(err.message || err));
    }
  };

  const agentError = error && !isClosedError(error) ? String(error.message || error) : null;
  const statusText = closed
    ? "Closed"
    : isReadOnly
      ? "Active in another tab"
      : { submitted: "Sending…", streaming: "Replying…", error: "Error", ready: started || messages.length ? "Ready" : "New chat" }[status];

  return (
    <main>
      <Header chatId={chatId} agent={agent} onMenu={onMenu}>
        <button
          type="button"
          data-testid="preload"
          disabled={started || messages.length > 0 || closed}
          onClick={() => transport.preload(chatId).then(chatsChanged)}
          title="Start the agent before the first message"
        >
          Preload
        </button>
        <button
          type="button"
          data-testid="close"
          disabled={closed || !started}
          onClick={() => closeChat(chatId).then(() => (setClosed(true), chatsChanged()))}
        >
          Close chat
        </button>
      </Header>
      <div className="messages" data-testid="messages" role="log" aria-live="polite" aria-label={`Conversation with ${agent}`}>
        {older && (
          <button type="button" className="older" onClick={loadOlder}>
            Show earlier messages
          </button>
        )}
        {olderError && <p className="banner error">{olderError}</p>}
        {historyError && (
          <p className="banner error" role="alert">
            The history could not be loaded: {String(historyError.message || historyError)}
          </p>
        )}
        {messages.length === 0 && <EmptyState agent={agent} chatId={chatId} canPickAgent={!started} />}
        {messages.map((m, i) => (
          <Message
            key={m.id}
            message={m}
            mark={marks[m.id]}
            streaming={status === "streaming" && i === messages.length - 1 && m.role === "assistant"}
            toolActions={
              busy || closed || isReadOnly
                ? undefined
                : (part) => <ToolActions part={part} addToolOutput={addToolOutput} addToolApprovalResponse={addToolApprovalResponse} />
            }
          />
        ))}
        {status === "submitted" && (
          <div className="message assistant pending" aria-label="Waiting for the reply">
            <span className="dots">…</span>
          </div>
        )}
      </div>
      {agentError && (
        <div className="banner error" role="alert" data-testid="error">
          <b>The agent reported an error.</b> {agentError}
        </div>
      )}
      {closed && (
        <div className="banner" data-testid="closed" role="status">
          This chat is closed: it keeps its history, but takes no new messages.{" "}
          <a href={`#chat=${newChatId()}&agent=${encodeURIComponent(agent)}`}>Start a new chat</a>
        </div>
      )}
      {isReadOnly && !closed && (
        <div className="banner" data-testid="read-only" role="status">
          This chat is replying in another tab. You can send again when it is done.
        </div>
      )}
      <Composer disabled={closed || isReadOnly} busy={busy} onSend={send} onStop={stop} placeholder={closed ? "This chat is closed" : isReadOnly ? "Active in another tab" : `Message ${agent}`} />
      <div className="status muted" data-testid="status" role="status">
        {statusText}
      </div>
    </main>
  );
}

// What a person can do on a tool call: pick an option of a client tool's question, or approve or deny
// a call that needs approval.
function ToolActions({ part, addToolOutput, addToolApprovalResponse }) {
  const tool = getToolName(part);
  if (part.state === "input-available" && Array.isArray(part.input?.options)) {
    return (
      <div className="tool-actions" role="group" aria-label={part.input.question || "Options"}>
        {part.input.options.map((option) => (
          <button
            key={option.id}
            type="button"
            onClick={() => addToolOutput({ tool, toolCallId: part.toolCallId, output: { optionId: option.id, label: option.label } })}
          >
            {option.label}
          </button>
        ))}
      </div>
    );
  }
  if (part.state === "approval-requested") {
    return (
      <div className="tool-actions" role="group" aria-label={`Approve ${tool}?`}>
        <button type="button" className="primary" onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: true })}>
          Approve
        </button>
        <button
          type="button"
          onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: false, reason: "Denied in the web chat" })}
        >
          Deny
        </button>
      </div>
    );
  }
  return null;
}

function EmptyState({ agent, chatId, canPickAgent }) {
  const [agents, setAgents] = useState([]);
  useEffect(() => {
    if (canPickAgent) listAgents().then(setAgents);
  }, [canPickAgent]);
  return (
    <div className="empty" data-testid="empty">
      <h2>Start a conversation with {agent}</h2>
      <p>
        Type a message below and press <kbd>Enter</kbd> to send (<kbd>Shift</kbd>+<kbd>Enter</kbd> for a new line). The reply
        streams in as it is written, and <b>Stop</b> ends it early. Your chats are listed under Chats, and each one
        keeps its history.
      </p>
      {canPickAgent && agents.length > 1 && (
        <label className="agent-picker">
          Agent{" "}
          <select
            value={agent}
            onChange={(e) => (location.hash = `chat=${encodeURIComponent(chatId)}&agent=${encodeURIComponent(e.target.value)}`)}
          >
            {agents.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}

function Composer({ disabled, busy, onSend, onStop, placeholder }) {
  const [text, setText] = useState("");
  const submit = (event) => {
    event?.preventDefault();
    if (!text.trim() || busy || disabled) return;
    onSend(text);
    setText("");
  };
  return (
    <form className="composer" onSubmit={submit}>
      <textarea
        data-testid="input"
        aria-label="Message"
        rows={1}
        value={text}
        disabled={disabled}
        placeholder={placeholder}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
        }}
      />
      {busy ? (
        <button data-testid="stop" type="button" className="stop" onClick={onStop}>
          Stop
        </button>
      ) : (
        <button data-testid="send" type="submit" className="primary" disabled={disabled || !text.trim()}>
          Send
        </button>
      )}
    </form>
  );
}
