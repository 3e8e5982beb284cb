// The server actions a Next.js app would have, as plain routes of the local stack
// (written with the Python server helpers: agent_sessions/local/web.py).
async function request(path, init) {
  const res = await fetch(path, init);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const post = (path, body) =>
  request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const chatPath = (chatId) => `/web/api/chats/${encodeURIComponent(chatId)}`;

// `#idle=<s>` in the address asks the dev backend for a shorter warm window (to watch a run suspend).
const idle = () => Number(new URLSearchParams(location.hash.slice(1)).get("idle")) || undefined;
export const startChatSession = ({ chatId, taskId, clientData }) =>
  post("/web/api/start", { chatId, taskId, clientData, idleTimeoutInSeconds: idle() });
export const mintChatAccessToken = async ({ chatId }) => (await post("/web/api/token", { chatId })).token;
export const closeChat = (chatId) => post(`${chatPath(chatId)}/close`, {});
// The chat's agent and state: {chatId, agent, closed, closedReason, started}.
export const getChat = (chatId) => request(chatPath(chatId));
// For useLoadTranscript: {messages, cursors: {lastOutEventId}, nextCursor}.
export const loadTranscript = ({ chatId, limit, before }) => {
  const query = new URLSearchParams();
  if (limit) query.set("limit", String(limit));
  if (before) query.set("before", before);
  return request(`${chatPath(chatId)}/transcript?${query}`);
};

async function getList(path) {
  try {
    const body = await request(path);
    return Array.isArray(body) ? body : [];
  } catch {
    return [];
  }
}

export const listAgents = () => getList("/web/api/agents");
export const listChats = () => getList("/web/api/chats");
// A chat that has not started yet has no runs (the backend answers 404).
export const listRuns = (chatId) => getList(`${chatPath(chatId)}/runs`);
