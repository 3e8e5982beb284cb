// What survives a reload: the transport's per-chat session state and the chat's messages.
const SESSIONS = "agent-sessions:sessions";
const messagesKey = (chatId) => `agent-sessions:messages:${chatId}`;

export function loadSessions() {
  try {
    return JSON.parse(localStorage.getItem(SESSIONS) || "{}");
  } catch {
    return {};
  }
}

export function saveSession(chatId, session) {
  const all = loadSessions();
  if (session) all[chatId] = session;
  else delete all[chatId];
  localStorage.setItem(SESSIONS, JSON.stringify(all));
}

export function loadMessages(chatId, session) {
  try {
    const messages = JSON.parse(localStorage.getItem(messagesKey(chatId)) || "[]");
    // A reply that was streaming is replayed whole by the resume: drop its partial copy.
    if (session?.isStreaming && messages.at(-1)?.role === "assistant") return messages.slice(0, -1);
    return messages;
  } catch {
    return [];
  }
}

export function saveMessages(chatId, messages) {
  localStorage.setItem(messagesKey(chatId), JSON.stringify(messages));
}
