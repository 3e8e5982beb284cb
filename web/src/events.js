export const DEFAULT_AGENT = "demo-chat";
export const newChatId = () => `web-${crypto.randomUUID().slice(0, 8)}`;
// The sidebar refreshes when a chat starts, finishes a turn or closes.
export const chatsChanged = () => dispatchEvent(new Event("chats-changed"));
