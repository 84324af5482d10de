// Answers as Markdown, safely: marked turns the model's text into HTML, DOMPurify removes
// anything that could run (scripts, event handlers, javascript: links) before it reaches the
// page. The model's words are untrusted: a tool result or a page it read may carry a payload.

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// Markdown only: HTML the model writes is shown as the text it is, and an image as a link to it.
// Nothing but marked's own tags reaches the sanitiser, so even its parsing never meets a handler
// (the page's CSP would log each one it refused).
const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html: (token) => (token.block ? `<p>${escape(token.text)}</p>` : escape(token.text)),
    image: (token) => `<a href="${escape(token.href)}">${escape(token.text || token.href)}</a>`,
  },
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  // No images (the page's CSP would block other origins' anyway), forms, styles, or ids and
  // classes that could collide with the page's own.
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "dialog"],
  FORBID_ATTR: ["style", "id", "class", "name"],
  RETURN_DOM_FRAGMENT: true,
};

/** ``text`` (Markdown) as sanitised DOM nodes; links open in a new tab without an opener. */
export function markdown(text) {
  const html = marked.parse(String(text ?? ""));
  const fragment = DOMPurify.sanitize(html, SANITIZE);
  for (const a of fragment.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
  }
  return fragment;
}

/** Replace ``node``'s children with ``text`` rendered as Markdown. */
export function renderInto(node, text) {
  node.replaceChildren(markdown(text));
}
