// What survives a reload: the transport's per-chat session state, the chat's messages and the
// marks this browser put on them (stopped, not sent).
const SESSIONS = "agent-sessions:sessions";
const messagesKey = (chatId) => `agent-sessions:messages:${chatId}`;
const marksKey = (chatId) => `agent-sessions:marks:${chatId}`;

function read(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

export const loadSessions = () => read(SESSIONS, {});

export function saveSession(chatId, session) {
  const all = loadSessions();
  if (session) all[chatId] = session;
  else delete all[chatId];
  localStorage.setItem(SESSIONS, JSON.stringify(all));
}

export function loadMessages(chatId, session) {
  const messages = read(messagesKey(chatId), []);
  // A reply that was streaming is replayed whole by the resume: drop its partial copy.
  if (session?.isStreaming && messages.at(-1)?.role === "assistant") return messages.slice(0, -1);
  return messages;
}

export const saveMessages = (chatId, messages) => localStorage.setItem(messagesKey(chatId), JSON.stringify(messages));
export const loadMarks = (chatId) => read(marksKey(chatId), {});
export const saveMarks = (chatId, marks) => localStorage.setItem(marksKey(chatId), JSON.stringify(marks));
