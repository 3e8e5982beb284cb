// The two server actions a Next.js app would have, as plain routes of the local stack
// (written with the Python server helpers: agent_sessions/local/web.py).
async function post(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

export const startChatSession = ({ chatId, taskId, clientData }) => post("/web/api/start", { chatId, taskId, clientData });
export const mintChatAccessToken = async ({ chatId }) => (await post("/web/api/token", { chatId })).token;
export const closeChat = (chatId) => post(`/web/api/chats/${encodeURIComponent(chatId)}/close`, {});
async function getList(path) {
  const res = await fetch(path);
  const body = res.ok ? await res.json() : [];
  return Array.isArray(body) ? body : [];
}

export const listChats = () => getList("/web/api/chats");
// A chat that has not started yet has no runs (the backend answers 404).
export const listRuns = (chatId) => getList(`/web/api/chats/${encodeURIComponent(chatId)}/runs`);
