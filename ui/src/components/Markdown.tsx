// Markdown a user wrote, rendered (see MarkdownRenderer.tsx). The renderer is loaded on
// first use, in its own chunk: only pages that show artifacts pay for it.
import { lazy, Suspense } from "react";

const MarkdownRenderer = lazy(() => import("./MarkdownRenderer"));

export function Markdown(props: { text: string; testId?: string }) {
  return (
    <div className="markdown" data-testid={props.testId}>
      <Suspense fallback={<span className="muted">Loading…</span>}>
        <MarkdownRenderer text={props.text} />
      </Suspense>
    </div>
  );
}
