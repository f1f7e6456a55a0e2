/**
 * Generic block tree for keepalived.conf: every statement is a keyword with
 * arguments and, when followed by `{ ... }`, children. The tree knows nothing
 * about what keywords mean; keywords.ts gives it meaning.
 *
 * Brace mistakes are located, not just counted (keepalived only says "There are
 * 1 missing '}'s or extra '{'s"): a top-level block keyword (vrrp_instance,
 * virtual_server, ...) met inside a block means the enclosing block lost its
 * `}`; when the braces do not balance, a second pass also uses indentation
 * (a `}` lined up with an outer block's keyword closes that outer block).
 */
import type { DiagnosticSink, Position } from './diagnostics.js';
import type { LexedLine, Token } from './lexer.js';

export type WordToken = Extract<Token, { kind: 'word' }>;

export interface ConfNode {
  keyword: string;
  pos: Position;
  args: WordToken[];
  /** Present when the statement opened a `{ }` block. */
  children?: ConfNode[];
  openPos?: Position;
  closePos?: Position;
}

interface Frame {
  node: ConfNode | undefined; // undefined for the root and for stray '{'
  children: ConfNode[];
  indent: number;
}

export interface TreeOptions {
  /** Keywords that only make sense at the top level: meeting one nested means a lost '}'. */
  topLevelBlocks: ReadonlySet<string>;
}

export function buildTree(lines: LexedLine[], sink: DiagnosticSink, opts: TreeOptions): ConfNode[] {
  const probe = new CollectingSink();
  const first = build(lines, probe, opts, false);
  if (!probe.braceTrouble) {
    for (const d of probe.items) sink.error(d.pos, d.message, d.hint);
    return first;
  }
  // Unbalanced: rebuild using indentation to pin the error on the right block.
  const second = new CollectingSink();
  const tree = build(lines, second, opts, true);
  for (const d of second.items) sink.error(d.pos, d.message, d.hint);
  return tree;
}

class CollectingSink {
  items: { pos: Position; message: string; hint?: string }[] = [];
  braceTrouble = false;
  error(pos: Position, message: string, hint?: string, brace = false): void {
    this.items.push({ pos, message, hint });
    if (brace) this.braceTrouble = true;
  }
}

function describe(node: ConfNode | undefined): string {
  if (!node) return "'{'";
  const name = node.args[0]?.text;
  return name ? `'${node.keyword} ${name}'` : `'${node.keyword}'`;
}

function build(lines: LexedLine[], sink: CollectingSink, opts: TreeOptions, useIndent: boolean): ConfNode[] {
  const root: Frame = { node: undefined, children: [], indent: 0 };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1];
  // The statement a following '{' (on the next line) may open.
  let canOpen: ConfNode | undefined;

  /**
   * Pops blocks that were never closed, one error each, shown where the '}' is missing: before the
   * first statement inside the block that is indented no deeper than the block's keyword, else where
   * the problem showed (a new top-level block, a '}' lined up with an outer block), else the opener.
   */
  const closeUnclosed = (downTo: number, at: Position | undefined, why: string) => {
    while (stack.length - 1 > downTo) {
      const frame = stack.pop()!;
      const node = frame.node;
      if (!node) continue;
      const outdented = frame.children.find((c) => c.pos.line > node.pos.line && c.pos.col <= frame.indent);
      const where = outdented?.pos ?? at ?? node.pos;
      const opened = `${where.file === node.pos.file ? '' : `${node.pos.file}:`}line ${node.pos.line}`;
      sink.error(
        where,
        `missing '}' to close ${describe(node)} (opened at ${opened})`,
        outdented ? "the '}' belongs before this line" : why,
        true,
      );
    }
  };

  for (const line of lines) {
    let i = 0;
    const toks = line.tokens;
    while (i < toks.length) {
      const t = toks[i];
      if (t.kind === 'word') {
        // A statement: this word and the following words up to a brace or end of line.
        let j = i + 1;
        while (j < toks.length && toks[j].kind === 'word') j++;
        const node: ConfNode = { keyword: t.text, pos: t.pos, args: toks.slice(i + 1, j) as WordToken[] };
        if (stack.length > 1 && opts.topLevelBlocks.has(node.keyword)) {
          // e.g. `vrrp_instance B` inside `vrrp_instance A`: A lost its '}'.
          closeUnclosed(0, node.pos, `'${node.keyword}' starts a new top-level block here`);
        }
        top().children.push(node);
        canOpen = node;
        i = j;
        continue;
      }
      if (t.kind === 'open') {
        if (canOpen && canOpen.children === undefined) {
          canOpen.children = [];
          canOpen.openPos = t.pos;
          stack.push({ node: canOpen, children: canOpen.children, indent: canOpen.pos.col });
        } else {
          sink.error(t.pos, "unexpected '{'", 'a block must follow a keyword', true);
          stack.push({ node: undefined, children: top().children, indent: t.pos.col });
        }
        canOpen = undefined;
        i++;
        continue;
      }
      // '}'
      canOpen = undefined;
      if (stack.length === 1) {
        sink.error(t.pos, "unexpected '}' (no block is open here)", undefined, true);
        i++;
        continue;
      }
      if (useIndent && i === 0) {
        // A '}' lined up with an outer block's keyword (not the innermost one's) closes the outer block.
        const innermost = top();
        if (innermost.node && innermost.indent !== t.pos.col) {
          for (let k = stack.length - 2; k >= 1; k--) {
            if (stack[k].indent === t.pos.col && stack[k].node) {
              closeUnclosed(k, t.pos, "this '}' lines up with an outer block");
              break;
            }
          }
        }
      }
      const frame = stack.pop()!;
      if (frame.node) frame.node.closePos = t.pos;
      i++;
    }
    // A '{' may only open the statement directly before it, on the same line or on the next line.
    if (canOpen && canOpen.children !== undefined) canOpen = undefined;
  }
  if (stack.length > 1) closeUnclosed(0, undefined, 'the file ends while this block is open');
  return root.children;
}
