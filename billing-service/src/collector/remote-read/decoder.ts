/**
 * One worker thread (decode-worker.ts) that decodes remote-read answers for a sample source, started
 * on first use and unreferenced while idle so it never keeps the process alive. From the sources
 * the worker runs through tsx, as the CLI does; from dist/, compiled.
 */
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { SampleColumns } from "./decode";

type Pending = { resolve: (c: SampleColumns[]) => void; reject: (e: Error) => void };

export class RemoteReadDecoder {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** `streamed`: frames of XOR chunks (chunks.ts), else a snappy-compressed SAMPLES answer (decode.ts). */
  decode(body: Buffer, streamed: boolean, windows: ReadonlyArray<{ fromMs: number; toMs: number }>): Promise<SampleColumns[]> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      // A copy the worker owns (the response buffer may be a slice of a shared pool).
      const copy = new Uint8Array(body);
      worker.postMessage({ id, body: copy, streamed, windows }, [copy.buffer]);
    });
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `decode-worker${ext}`);
    const worker = new Worker(file, ext === ".ts" ? { execArgv: ["--require", require.resolve("tsx/cjs")] } : {});
    worker.unref();
    worker.on("message", (m: { id: number; columns?: SampleColumns[]; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(new Error(`remote read answer: ${m.error}`));
      else p.resolve(m.columns!);
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = undefined;
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`remote read decode worker exited with ${code}`)));
    this.worker = worker;
    return worker;
  }
}
