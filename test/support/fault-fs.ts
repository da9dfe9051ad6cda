/**
 * A file system for tests that fails chosen calls, after pebble's errorfs: a rule names the operation
 * kind(s), a path pattern, which matching call fails first (nth, from 1) and how many in a row
 * (`times`, Infinity: until cleared), and the failure: ENOSPC, EIO, or a short write (part of the data
 * reaches the file, then ENOSPC, as when a disk fills mid-write). Everything else goes to node:fs.
 * Installed with `installFaultFs()`, removed after each test.
 */
import { afterEach } from "vitest";
import { type Fs, type FsFile, type NativeOp, nodeFileSystem, setFs } from "../../src/base/fs.js";

export type FaultOp =
  | "open"
  | "write"
  | "datasync"
  | "sync"
  | "truncate"
  | "close"
  | "readFile"
  | "readdir"
  | "mkdir"
  | "rename"
  | "unlink"
  | "rmdir"
  | NativeOp;

export type FaultKind = "ENOSPC" | "EIO" | "short";

export interface FaultRule {
  op: FaultOp | FaultOp[];
  path?: RegExp;
  /** The first matching call (counted from the rule's injection) that fails; default 1. */
  nth?: number;
  /** How many matching calls fail from there; default 1. */
  times?: number;
  kind: FaultKind;
}

interface Armed extends Required<FaultRule> {
  seen: number;
  failed: number;
}

export function errnoError(code: "ENOSPC" | "EIO", op: string, path: string): NodeJS.ErrnoException {
  const text = code === "ENOSPC" ? "no space left on device" : "i/o error";
  return Object.assign(new Error(`${code}: ${text} (injected), ${op} '${path}'`), {
    code,
    errno: code === "ENOSPC" ? -28 : -5,
    syscall: op,
    path,
  });
}

export class FaultFs implements Fs {
  private rules: Armed[] = [];
  /** Every call made, in order (op and path): tests read it to aim their faults. */
  readonly calls: { op: FaultOp; path: string }[] = [];
  /** Faults actually injected. */
  injected = 0;

  constructor(private readonly base: Fs = nodeFileSystem) {}

  inject(rule: FaultRule): void {
    this.rules.push({ nth: 1, times: 1, path: /(?:)/, ...rule, seen: 0, failed: 0 });
  }

  /** Removes every rule: "space comes back". */
  clear(): void {
    this.rules = [];
  }

  /** The fault for this call, if a rule picks it. */
  private fault(op: FaultOp, path: string): FaultKind | undefined {
    this.calls.push({ op, path });
    for (const r of this.rules) {
      const ops = Array.isArray(r.op) ? r.op : [r.op];
      if (!ops.includes(op) || !r.path.test(path)) continue;
      r.seen++;
      if (r.seen >= r.nth && r.failed < r.times) {
        r.failed++;
        this.injected++;
        return r.kind;
      }
    }
    return undefined;
  }

  private check(op: FaultOp, path: string): void {
    const kind = this.fault(op, path);
    if (kind) throw errnoError(kind === "EIO" ? "EIO" : "ENOSPC", op, path);
  }

  async open(path: string, flags: "r" | "r+" | "w" | "wx"): Promise<FsFile> {
    this.check("open", path);
    const f = await this.base.open(path, flags);
    const writeOp = async (data: Uint8Array, position: number, whole: () => Promise<number>) => {
      const kind = this.fault("write", path);
      if (kind === "short") {
        // part of the data lands, then the disk is full
        await f.write(data.subarray(0, Math.max(1, data.length >> 1)), position);
        throw errnoError("ENOSPC", "write", path);
      }
      if (kind) throw errnoError(kind, "write", path);
      return whole();
    };
    return {
      write: (buf, position) => writeOp(buf, position, () => f.write(buf, position)),
      writev: (bufs, position) => writeOp(Buffer.concat(bufs), position, () => f.writev(bufs, position)),
      datasync: async () => {
        this.check("datasync", path);
        await f.datasync();
      },
      sync: async () => {
        this.check("sync", path);
        await f.sync();
      },
      truncate: async (length) => {
        this.check("truncate", path);
        await f.truncate(length);
      },
      close: async () => {
        await f.close(); // the handle is released even when the close "fails"
        this.check("close", path);
      },
    };
  }

  async readFile(path: string): Promise<Buffer> {
    this.check("readFile", path);
    return this.base.readFile(path);
  }

  async readdir(path: string): Promise<string[]> {
    this.check("readdir", path);
    return this.base.readdir(path);
  }

  async mkdir(path: string): Promise<void> {
    this.check("mkdir", path);
    await this.base.mkdir(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check("rename", to);
    await this.base.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.check("unlink", path);
    await this.base.unlink(path);
  }

  async rmdir(path: string): Promise<void> {
    this.check("rmdir", path);
    await this.base.rmdir(path);
  }

  native(op: NativeOp, path: string): void {
    this.check(op, path);
    this.base.native(op, path);
  }
}

/** A FaultFs installed for the current test (and removed after it). */
export function installFaultFs(): FaultFs {
  const fs = new FaultFs();
  restores.push(setFs(fs));
  return fs;
}

const restores: (() => void)[] = [];

afterEach(() => {
  for (const restore of restores.splice(0).reverse()) restore();
});

/** Runs `then` when the hot tier's database is about to be opened again (it is closed at that point). */
export function onReopen(fs: FaultFs, then: () => void): void {
  const native = fs.native.bind(fs);
  let reopening = false;
  fs.native = (op, path) => {
    if (op === "leveldb.reopen") reopening = true;
    if (op === "leveldb.open" && reopening) {
      reopening = false;
      then();
    }
    native(op, path);
  };
}
