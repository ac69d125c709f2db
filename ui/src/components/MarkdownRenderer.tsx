// Markdown a user wrote (an artifact, its description), rendered by react-markdown (a
// chunk of its own: see Markdown.tsx). Raw HTML in it is never parsed: it is shown as
// code, so a `<script>` reads as text. Links open in a new tab; images load only from
// this server or `data:` (the page's policy blocks other origins), others become links.
import type { ComponentProps } from "react";
import ReactMarkdown, { defaultUrlTransform } from "react-markdown";
import { loadableImage } from "../urls";

/** The part of an mdast node this file reads and rewrites. */
interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

const BLOCK_PARENTS = new Set(["root", "blockquote", "listItem", "footnoteDefinition"]);

function htmlAsCode(parent: MdNode): void {
  for (const child of parent.children ?? []) {
    if (child.type === "html") child.type = BLOCK_PARENTS.has(parent.type) ? "code" : "inlineCode";
    else htmlAsCode(child);
  }
}

/** A remark plugin: every raw HTML node becomes a code block (or inline code). */
function remarkHtmlAsCode() {
  return (tree: MdNode) => htmlAsCode(tree);
}

const PLUGINS = [remarkHtmlAsCode];

function MarkdownLink(props: ComponentProps<"a">) {
  const { node: _node, ...rest } = props as ComponentProps<"a"> & { node?: unknown };
  return <a {...rest} target="_blank" rel="noopener noreferrer" />;
}

function MarkdownImage(props: ComponentProps<"img">) {
  const { src, alt } = props;
  if (typeof src !== "string" || !src) return <span className="muted">[{alt || "image"}]</span>;
  if (loadableImage(src)) return <img src={src} alt={alt ?? ""} className="markdown-image" />;
  return <a href={src} target="_blank" rel="noopener noreferrer">{alt || src}</a>;
}

const COMPONENTS = { a: MarkdownLink, img: MarkdownImage };

export default function MarkdownRenderer(props: { text: string }) {
  return (
    <ReactMarkdown remarkPlugins={PLUGINS} components={COMPONENTS} urlTransform={defaultUrlTransform}>
      {props.text}
    </ReactMarkdown>
  );
}
