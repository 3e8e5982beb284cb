import { getToolName, isToolUIPart } from "ai";

export { getToolName };

const ROLE_LABEL = { user: "You", assistant: "Agent", system: "System" };

export function Message({ message, mark, streaming, toolActions }) {
  return (
    <article
      className={`message ${message.role}${mark ? " marked" : ""}`}
      data-role={message.role}
      data-mark={mark || undefined}
      aria-label={`${ROLE_LABEL[message.role] ?? message.role}${mark ? ` (${mark})` : ""}`}
      aria-busy={streaming || undefined}
    >
      {message.parts.map((part, i) =>
        part.type === "text" ? (
          part.text && (
            <div key={i} className="text" data-testid="text">
              {part.text}
            </div>
          )
        ) : isToolUIPart(part) ? (
          <ToolCard key={part.toolCallId} part={part} actions={toolActions} />
        ) : null,
      )}
      {mark && (
        <div className={`mark mark-${mark.split(":")[0].replace(" ", "-")}`} data-testid="mark">
          {mark === "stopped" ? "Stopped" : mark === "failed" ? "Failed" : mark.charAt(0).toUpperCase() + mark.slice(1)}
        </div>
      )}
    </article>
  );
}

const STATE_LABEL = {
  "input-streaming": "preparing",
  "input-available": "waiting",
  "approval-requested": "needs approval",
  "approval-responded": "answered",
  "output-available": "done",
  "output-error": "error",
  "output-denied": "denied",
};

const show = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

// A tool call as a card: its name and state, the input, then the output, the error or the denial.
function ToolCard({ part, actions }) {
  const name = getToolName(part);
  const question = Array.isArray(part.input?.options) && typeof part.input?.question === "string";
  return (
    <section className={`tool tool-${part.state}`} data-testid="tool" data-tool={name} data-state={part.state} aria-label={`Tool ${name}`}>
      <header>
        <b>{name}</b> <span className="tool-state">{STATE_LABEL[part.state] ?? part.state}</span>
      </header>
      {question ? (
        <p className="tool-question">{part.input.question}</p>
      ) : (
        part.input !== undefined && part.input !== null && <pre className="tool-input" aria-label="Input">{show(part.input)}</pre>
      )}
      {part.state === "output-available" &&
        (question && part.output?.label ? (
          <p className="tool-output" data-testid="tool-output">Answer: {part.output.label}</p>
        ) : (
          <pre className="tool-output" data-testid="tool-output" aria-label="Output">{show(part.output)}</pre>
        ))}
      {part.state === "output-error" && <p className="tool-error" role="alert">{part.errorText}</p>}
      {part.state === "output-denied" && <p className="tool-denied">Denied{part.approval?.reason ? `: ${part.approval.reason}` : ""}</p>}
      {actions?.(part)}
    </section>
  );
}
