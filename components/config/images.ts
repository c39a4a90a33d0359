/*
 * The third-party images this program deploys by default, in one place: repository, the tag the
 * digest belongs to, and the digest with the public file it was read from (docs/images.md shows the
 * same table). This machine has no registry access, so a digest is only here when a public
 * repository pins that exact tag to it; none is invented. A default without one renders as its tag
 * and is refused by the default `imagePinning: digest` until the stack gives the key a digest or
 * allows the tag explicitly (`allowImageTags`).
 */

/** Where a digest was read: a public repository's file at a commit. */
export interface DigestSource {
  readonly repo: string;
  readonly path: string;
  readonly commit: string;
}

export interface DefaultImage {
  /** Registry and repository, e.g. `quay.io/prometheus/prometheus`. */
  readonly repository: string;
  /** The release the digest belongs to (documentation; the reference renders by digest only). */
  readonly tag: string;
  /** The manifest (list) digest, `sha256:<64 hex>`; absent when no public source could be cited. */
  readonly digest?: string;
  readonly source?: DigestSource;
  /** Why there is no digest (shown in docs/images.md). */
  readonly missing?: string;
}

/** A default with the digest of its tag, read from `source`. */
const cited = (repository: string, tag: string, digest: string, source: DigestSource): DefaultImage & { readonly digest: string; readonly source: DigestSource } => ({
  repository,
  tag,
  digest,
  source,
});

export const defaultImages = {
  prometheus: cited("quay.io/prometheus/prometheus", "v3.5.0", "sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996", { repo: "cchifor/ailab", path: "scripts/rules-lint.sh", commit: "14caf50a1828ccde8afb83654245332e5a7ca005" }),
  // Docker Hub's copy of the official image: the digest cited below is for this repository.
  alertmanager: cited("docker.io/prom/alertmanager", "v0.28.1", "sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba", { repo: "automaster5013/LogiTrack", path: "scripts/alertmanager-runtime-smoke.py", commit: "49af99dc2f5712e6dabb7aa6b04f2c82f09a6c9f" }),
  grafana: cited("docker.io/grafana/grafana", "12.1.1", "sha256:a1701c2180249361737a99a01bc770db39381640e4d631825d38ff4535efa47d", { repo: "Faya-Corporation/FayaNMS", path: "deploy/oci/compose.monitoring.yml", commit: "54c5774999100b437f6ea8a6261ee3ed8748c908" }),
  timescaledb: cited("docker.io/timescale/timescaledb", "2.17.2-pg16", "sha256:4e459e217f00cbb09920c34d245501e63427e6767a495de57ce76823ff280f12", { repo: "AndrewCTF/velocity", path: "scripts/dev-timescale.sh", commit: "b737bd970e0a6e0ca56d4601a15773b723b03617" }),
  curl: cited("docker.io/curlimages/curl", "8.11.1", "sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69", { repo: "medizininformatik-initiative/dataportal-es-init", path: "Dockerfile", commit: "bad6564db47007be3cfd43beca9528a0d82ee704" }),
  promLabelProxy: {
    repository: "quay.io/prometheuscommunity/prom-label-proxy",
    tag: "v0.14.0",
    missing:
      "no public file pins v0.14.0 (or v0.13.0) by digest; the one digest found (opendatahub-operator) is v0.12.1, which lacks --upstream-ca-cert that the render passes on OpenShift",
  },
  // An Alpine tag upstream rebuilds for package updates: the digest pins the one build that public files
  // agree on (gv-kit and several other repositories pin the same one; one other file pins an older build).
  nginxUnprivileged: cited("docker.io/nginxinc/nginx-unprivileged", "1.28.0-alpine", "sha256:c97ff0bf7cbae369953c6da1232ec14ad9f971d66360c5698db0856a4cd657a0", { repo: "giovacalle/gv-kit", path: "src/generators/integrated-deploy.ts", commit: "0c078dd3bbed621a1a887873260d0a761aa02bd8" }),
} as const satisfies Record<string, DefaultImage>;

/** The reference a default renders as: by digest when one is recorded, else by tag. */
export function defaultImageRef(image: DefaultImage): string {
  return image.digest ? `${image.repository}@${image.digest}` : `${image.repository}:${image.tag}`;
}

/** The reference with both tag and digest, as docs show it. */
export function describeImage(image: DefaultImage): string {
  return image.digest ? `${image.repository}:${image.tag}@${image.digest}` : `${image.repository}:${image.tag}`;
}

/** A default rendered by tag because no digest could be cited, by its reference. */
export const defaultsWithoutDigest: ReadonlyMap<string, DefaultImage> = new Map(
  Object.values(defaultImages as Record<string, DefaultImage>)
    .filter((i) => !i.digest)
    .map((i) => [defaultImageRef(i), i]),
);
