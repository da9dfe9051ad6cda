/**
 * Filler text with roughly the statistics of real prompts: a Zipf-like choice over a vocabulary of
 * syllable words, so it compresses about as well as English prose (≈3× with deflate), and code-like
 * lines for tool output. Nothing here is meant to be read.
 */
import type { Random } from "./random.js";

const SYLLABLES = [
  "ka",
  "lo",
  "mi",
  "ne",
  "ra",
  "tu",
  "so",
  "vi",
  "de",
  "pa",
  "en",
  "or",
  "is",
  "an",
  "qu",
  "th",
];

export class TextGen {
  private readonly rnd: Random;
  private readonly vocab: string[];

  constructor(rnd: Random, vocabSize = 3000) {
    this.rnd = rnd;
    this.vocab = [];
    for (let i = 0; i < vocabSize; i++) {
      let w = "";
      const n = 1 + Math.floor(rnd.next() * 4);
      for (let j = 0; j < n; j++) w += rnd.pick(SYLLABLES);
      this.vocab.push(w);
    }
  }

  private word(): string {
    // skewed toward the front of the vocabulary, as word frequencies are
    return this.vocab[Math.floor(this.rnd.next() ** 3 * this.vocab.length)]!;
  }

  /** Prose of about `bytes` characters. */
  prose(bytes: number): string {
    const parts: string[] = [];
    let n = 0;
    while (n < bytes) {
      const words: string[] = [];
      const len = this.rnd.int(6, 22);
      for (let i = 0; i < len; i++) words.push(this.word());
      const sentence = `${words.join(" ")}. `;
      parts.push(this.rnd.chance(0.08) ? `${sentence}\n\n` : sentence);
      n += sentence.length;
    }
    return parts.join("");
  }

  /** Code-like output (a file listing, a diff, a test log) of about `bytes` characters. */
  code(bytes: number): string {
    const lines: string[] = [];
    let n = 0;
    let depth = 0;
    while (n < bytes) {
      const indent = "  ".repeat(depth);
      const line = this.rnd.chance(0.3)
        ? `${indent}function ${this.word()}_${this.word()}(${this.word()}, ${this.word()}) {`
        : `${indent}const ${this.word()} = ${this.word()}.${this.word()}(${this.rnd.int(0, 999)}, "${this.word()}");`;
      depth = line.endsWith("{")
        ? Math.min(depth + 1, 5)
        : this.rnd.chance(0.2)
          ? Math.max(depth - 1, 0)
          : depth;
      lines.push(line);
      n += line.length + 1;
    }
    return lines.join("\n");
  }
}
