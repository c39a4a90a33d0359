import { describe, expect, it } from "vitest";
import { configKey, parseStackConfig } from "../components/config";
import { defaultImageRef, defaultImages } from "../components/config/images";
import { DATABASE_RESERVED_CONNECTIONS } from "../components/config/databaseConnections";
import { databaseServerArgs, databaseStatefulSetSpec } from "../components/platform/databaseSpecs";
import { COMMAND_POOL_MAX, SERVE_POOL_MAX } from "../billing-service/src/contract";
import { errorsOf } from "./support/configErrors";
import { testImage, UNDIGESTED_DEFAULTS_OPT_IN, withExampleImageOptIn } from "./support/stacks";

const platform = (extra: Record<string, unknown> = {}) => ({ billing: { image: testImage }, ...extra });
// The checks below are not about image pinning: configs carry the example stacks' tag opt-in.
const parse = (raw: Record<string, unknown>) => parseStackConfig(withExampleImageOptIn(raw));
const errorsIn = (raw: Record<string, unknown>) => errorsOf(withExampleImageOptIn(raw));


describe("parseStackConfig: broken configs name the key, what was wrong and a right value", () => {
  it.each([
    [
      "unknown flavor",
      { flavor: "aks", platform: platform() },
      'maas-billing:flavor: expected one of "openshift" | "kubernetes", got "aks". Example: "openshift"',
    ],
    ["missing flavor", { platform: platform() }, 'maas-billing:flavor: required key is missing. Example: "openshift"'],
    [
      "missing billing image",
      { flavor: "openshift", platform: { billing: {} } },
      `maas-billing:platform.billing.image: required key is missing. Example: "quay.io/example/maas-billing@sha256:${"0".repeat(63)}1"`,
    ],
    [
      "negative retention",
      { flavor: "openshift", platform: platform({ monitoring: { retention: "-5d" } }) },
      'maas-billing:platform.monitoring.retention: expected a Prometheus duration, got "-5d". Example: "15d"',
    ],
    [
      "negative storage size",
      { flavor: "kubernetes", platform: platform({ database: { storageSize: "-1Gi" } }) },
      'maas-billing:platform.database.storageSize: expected a non-negative Kubernetes quantity, got "-1Gi". Example: "20Gi"',
    ],
    [
      "billing image by tag, not digest",
      { flavor: "openshift", platform: { billing: { image: "quay.io/x/maas-billing:latest" } } },
      `maas-billing:platform.billing.image: expected an image reference pinned by digest (repo@sha256:<64 hex>), got "quay.io/x/maas-billing:latest". Example: "quay.io/example/maas-billing@sha256:${"0".repeat(63)}1"`,
    ],
    [
      "latest third-party image",
      { flavor: "openshift", platform: platform({ limitador: { image: "quay.io/kuadrant/limitador:latest" } }) },
      'maas-billing:platform.limitador.image: expected an image pinned by digest or an exact tag other than latest, got "quay.io/kuadrant/limitador:latest". Example: "docker.io/timescale/timescaledb@sha256:4e459e217f00cbb09920c34d245501e63427e6767a495de57ce76823ff280f12"',
    ],
    [
      "Limitador verbosity out of range",
      { flavor: "openshift", platform: platform({ limitador: { image: "quay.io/kuadrant/limitador:v2.0.0", verbosity: 7 } }) },
      "maas-billing:platform.limitador.verbosity: Too big: expected number to be <=4, got 7",
    ],
    [
      "verbosity without image",
      { flavor: "openshift", platform: platform({ limitador: { verbosity: 3 } }) },
      'maas-billing:platform.limitador.verbosity: verbosity is patched only together with image. Example: image: "quay.io/kuadrant/limitador:v2.0.0"',
    ],
    [
      "duplicate tenant",
      { flavor: "openshift", platform: platform({ tenants: [{ name: "a" }, { name: "a" }] }) },
      'maas-billing:platform.tenants[1].name: duplicate tenant "a"',
    ],
    [
      "tenant without platformStack",
      { flavor: "openshift", tenant: { name: "tenant-a" } },
      'maas-billing:platformStack: required key is missing: a tenant stack reads the platform outputs from this stack. Example: "acme/maas-billing/platform-prod"',
    ],
    ["empty stack", { flavor: "openshift" }, "maas-billing:platform: a stack needs at least one of platform, tenants or tenant. Example: platform: { billing: { image: ... } }"],
  ])("%s", (_name, raw, expected) => {
    expect(errorsIn(raw)).toContain(expected);
  });

  it("rejects a misspelt key instead of ignoring it", () => {
    const errors = errorsIn({ flavor: "openshift", platform: platform({ monitoring: { retension: "15d" } }) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^maas-billing:platform\.monitoring\.retension: unknown key \(a typo\?\)\. Known keys here: namespace, retention,/);
  });

  it("reports every problem at once, one line each", () => {
    const errors = errorsIn({ flavor: "aks", platform: { billing: { image: "nope" }, monitoring: { retention: "forever" } } });
    expect(errors.map((e) => e.split(":").slice(0, 2).join(":"))).toEqual([
      "maas-billing:flavor",
      "maas-billing:platform.monitoring.retention",
      "maas-billing:platform.billing.image",
    ]);
  });

  it("a tenant in the same stack must be registered with the platform", () => {
    expect(errorsIn({ flavor: "openshift", platform: platform({ tenants: [{ name: "tenant-a" }] }), tenants: [{ name: "tenant-b" }] })).toEqual([
      'maas-billing:tenants[0].name: tenant "tenant-b" is not registered in platform.tenants, so it has no namespaces or federation proxies. Example: platform.tenants: [{ name: "tenant-b" }]',
    ]);
  });
});

describe("parseStackConfig: defaults are applied in one place", () => {
  it("fills the platform defaults", () => {
    const c = parse({ flavor: "kubernetes", platform: platform() });
    expect(c.platform).toMatchObject({
      namespace: "maas-billing",
      vllmMetricFamily: "kserve_vllm",
      monitoring: { namespace: "maas-monitoring", retention: "15d", storageSize: "50Gi" },
      database: { image: defaultImageRef(defaultImages.timescaledb), storageSize: "20Gi", databaseName: "maas_billing", user: "billing" },
      billing: { image: testImage, replicas: 2 },
      limitador: { name: "limitador", namespace: "kuadrant-system", serviceMonitor: true },
      telemetry: { enabled: true, tierLabel: "tier" },
      tenants: [],
    });
    expect(c.platform?.limitador.image).toBeUndefined();
  });

  it("accepts a tenant-only stack", () => {
    const c = parse({ flavor: "openshift", tenant: { name: "tenant-a" }, platformStack: "acme/maas-billing/platform" });
    expect(c.platform).toBeUndefined();
    expect(c.tenant?.name).toBe("tenant-a");
  });
});

describe("configKey", () => {
  it.each([
    [["flavor"], "maas-billing:flavor"],
    [["platform", "tenants", 2, "name"], "maas-billing:platform.tenants[2].name"],
    [["tenants", 0], "maas-billing:tenants[0]"],
  ])("%j -> %s", (path, key) => expect(configKey(path)).toBe(key));
});

describe("shared config value types (property-based)", () => {
  it("accepts every well-formed Prometheus duration and no negative one", async () => {
    const fc = await import("fast-check");
    const { promDuration } = await import("../components/config/common");
    const unit = fc.constantFrom("ms", "s", "m", "h", "d", "w", "y");
    const part = fc.tuple(fc.nat({ max: 100000 }), unit).map(([n, u]) => `${n}${u}`);
    const duration = fc.array(part, { minLength: 1, maxLength: 3 }).map((p) => p.join(""));
    fc.assert(fc.property(duration, (d) => promDuration.safeParse(d).success && !promDuration.safeParse(`-${d}`).success));
  });

  it("accepts only digest-pinned images for our own image", async () => {
    const fc = await import("fast-check");
    const { imageWithDigest } = await import("../components/config/common");
    const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
    fc.assert(
      fc.property(hex, fc.constantFrom("v1", "latest", "1.2.3"), (h, tag) => {
        return imageWithDigest.safeParse(`quay.io/acme/maas-billing@sha256:${h}`).success && !imageWithDigest.safeParse(`quay.io/acme/maas-billing:${tag}`).success;
      }),
    );
  });
});

/*
 * Cross-field checks live in the schema (not in components), so their errors carry the key path and
 * stop the program before any resource is declared.
 */
describe("cross-field checks in the schema", () => {
  const grafanaExposed = { grafana: { expose: { enabled: true } } };
  const hostMessage = (key: string, example: string) =>
    `maas-billing:${key}: required when grafana.expose.enabled is true on flavor kubernetes (an HTTPRoute needs a host name). Example: "${example}"`;

  it.each([
    ["the platform Grafana", { flavor: "kubernetes", platform: platform(grafanaExposed) }, hostMessage("platform.grafana.expose.host", "grafana.platform.example.com")],
    [
      "a same-stack tenant's Grafana",
      { flavor: "kubernetes", platform: platform({ tenants: [{ name: "tenant-a" }] }), tenants: [{ name: "tenant-a", ...grafanaExposed }] },
      hostMessage("tenants[0].grafana.expose.host", "grafana.tenant-a.example.com"),
    ],
    [
      "a tenant-only stack's Grafana",
      { flavor: "kubernetes", platformStack: "acme/maas-billing/platform", tenant: { name: "tenant-a", ...grafanaExposed } },
      hostMessage("tenant.grafana.expose.host", "grafana.tenant-a.example.com"),
    ],
    [
      "a route in another tenant's namespace",
      { flavor: "openshift", platformStack: "acme/maas-billing/platform", tenant: { name: "tenant-a", routes: [{ name: "r", namespace: "tenant-b-models" }] } },
      'maas-billing:tenant.routes[0].namespace: "tenant-b-models" is not one of the tenant\'s namespaces (tenant-a-models, tenant-a-monitoring); a tenant stack only places policies in its own namespaces. Example: "tenant-a-models"',
    ],
    [
      "a same-stack tenant's route outside its renamed namespaces",
      {
        flavor: "openshift",
        platform: platform({ tenants: [{ name: "tenant-a" }] }),
        tenants: [{ name: "tenant-a", namespaces: { models: "a-models" }, routes: [{ name: "r", namespace: "tenant-a-models" }] }],
      },
      'maas-billing:tenants[0].routes[0].namespace: "tenant-a-models" is not one of the tenant\'s namespaces (a-models, tenant-a-monitoring)',
    ],
  ])("%s", (_case, raw, expected) => {
    const errors = errorsIn(raw);
    expect(errors).toHaveLength(1);
    expect(errors[0].startsWith(expected)).toBe(true);
  });

  it("accepts what the checks allow: a host, openshift's assigned host, a disabled platform Grafana, own namespaces", () => {
    const ok = [
      { flavor: "kubernetes", platform: platform({ grafana: { expose: { enabled: true, host: "grafana.example.com" }, gateway: { gatewayClassName: "istio" } } }) },
      { flavor: "openshift", platform: platform(grafanaExposed) },
      { flavor: "kubernetes", platform: platform({ grafana: { enabled: false, expose: { enabled: true } } }) },
      { flavor: "openshift", platformStack: "acme/maas-billing/platform", tenant: { name: "tenant-a", routes: [{ name: "r", namespace: "tenant-a-monitoring" }, { name: "s" }] } },
    ];
    for (const raw of ok) expect(() => parse(raw)).not.toThrow();
  });

  it("a refused config is refused for the checked field only: fixing that field makes it parse", () => {
    // Same configs with the one field fixed parse: the refusal above is the cross-field check, nothing else.
    expect(() => parse({ flavor: "kubernetes", platform: platform({ grafana: { expose: { enabled: true, host: "g.example.com" }, gateway: { gatewayClassName: "istio" } } }) })).not.toThrow();
    expect(() =>
      parse({ flavor: "openshift", platformStack: "acme/maas-billing/platform", tenant: { name: "tenant-a", routes: [{ name: "r", namespace: "tenant-a-models" }] } }),
    ).not.toThrow();
  });
});

describe("image pinning: digest by default, tags only by opt-in", () => {
  const digest = (repo: string) => `${repo}@sha256:${"cd".repeat(32)}`;
  const platform = { billing: { image: testImage }, tenants: [{ name: "acme" }] };
  const refusal = (ref: string, key: string, why = "") =>
    `maas-billing:${key}: "${ref}" is pinned by tag${why} and imagePinning is "digest": set this key to the image by digest (skopeo inspect docker://${ref} --format "{{.Digest}}" gives it; e.g. "${ref.replace(/:[^:/@]+$/, "")}@sha256:<digest>"), or allow this tag with allowImageTags: ["${key}"], or set imagePinning: tag`;
  const noCitedDigest = " (a default with no digest this project could cite, docs/images.md)";

  it("by default refuses exactly the defaults with no cited digest, naming each key and the fix", () => {
    const errors = errorsOf({ flavor: "kubernetes", platform, tenants: [{ name: "acme" }] });
    expect(errors).toEqual([refusal(defaultImageRef(defaultImages.promLabelProxy), "platform.federation.proxyImage", noCitedDigest)]);
    // A tenant-only stack: every default there has a digest.
    expect(parseStackConfig({ flavor: "openshift", platformStack: "a/b/c", tenant: { name: "acme" } }).imagePinning).toBe("digest");
  });

  it("refuses a tag an operator sets, anywhere", () => {
    const errors = errorsOf({
      flavor: "kubernetes",
      allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN,
      platform: { ...platform, database: { image: "docker.io/timescale/timescaledb:2.17.2-pg16" } },
      tenants: [{ name: "acme", prometheus: { image: "quay.io/prometheus/prometheus:v3.5.0" } }],
    });
    expect(errors).toEqual([
      refusal("docker.io/timescale/timescaledb:2.17.2-pg16", "platform.database.image"),
      refusal("quay.io/prometheus/prometheus:v3.5.0", "tenants[0].prometheus.image"),
    ]);
  });

  it("accepts each refused key once it has a digest, or once it is opted in", () => {
    const raw = { flavor: "kubernetes", platform, tenants: [{ name: "acme" }] };
    const fixed = structuredClone(raw) as Record<string, any>;
    for (const e of errorsOf(raw)) {
      const path = e.split(":")[1]!.replace(/\[(\d+)\]/g, ".$1").split(".");
      let at = fixed;
      for (const p of path.slice(0, -1)) at = at[p] ??= {};
      at[path.at(-1)!] = digest("quay.io/example/image");
    }
    expect(parseStackConfig(fixed).imagePinning).toBe("digest");
    const optedIn = parseStackConfig({ ...raw, allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN });
    expect(optedIn.platform!.federation.proxyImage).toBe("quay.io/prometheuscommunity/prom-label-proxy:v0.14.0");
    expect(parseStackConfig({ ...raw, imagePinning: "tag", platform: { ...platform, database: { image: "docker.io/timescale/timescaledb:2.17.2-pg16" } } }).platform!.database.image).toBe(
      "docker.io/timescale/timescaledb:2.17.2-pg16",
    );
  });

  it("refuses an opt-in entry that names no image key (a typo must not silently allow nothing)", () => {
    const errors = errorsOf({ flavor: "kubernetes", allowImageTags: [...UNDIGESTED_DEFAULTS_OPT_IN, "platform.federation.proxyimage"], platform });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^maas-billing:allowImageTags\[1\]: "platform.federation.proxyimage" is not an image key of this config. Image keys: .*platform\.federation\.proxyImage/);
  });

  it("every default with a digest renders by digest, and each names the public file it was read from", () => {
    for (const [name, image] of Object.entries(defaultImages)) {
      if ("digest" in image) {
        expect(defaultImageRef(image), name).toMatch(/^[a-z0-9./-]+@sha256:[a-f0-9]{64}$/);
        expect(image.source.commit, name).toMatch(/^[0-9a-f]{40}$/);
      } else expect(image.missing, name).toBeTruthy();
    }
  });
});

describe("registry-wide checks: one pass over the tenants, every refusal kept", () => {
  // These checks once scanned every tenant's domains for each domain and parsed the price book twice
  // per tenant (a 10,000-tenant config took about 18 s to check); they now index the registry once.
  // Each case is an input a check exists for.
  const tenantsPlatform = (tenants: unknown[], extra: Record<string, unknown> = {}) => ({ flavor: "openshift", platform: platform({ tenants, ...extra }) });
  /** The config's error lines, or none when it parses. */
  const problemsOf = (raw: Record<string, unknown>): string[] => {
    try {
      parse(raw);
      return [];
    } catch {
      return errorsIn(raw);
    }
  };

  it("refuses a domain that equals or is a parent of another tenant's, not one that merely ends in the same letters", () => {
    const errors = errorsIn(
      tenantsPlatform([
        { name: "a", domains: ["example.com", "models.a.org"] },
        { name: "b", domains: ["x.example.com", "notexample.com", "example.com.evil.org"] },
        { name: "c", domains: ["example.com", "deep.x.example.com"] },
      ]),
    );
    expect(errors).toEqual([
      'maas-billing:platform.tenants[0].domains[0]: "example.com" covers "x.example.com" of tenant "b": one tenant\'s routes could take the other\'s traffic',
      'maas-billing:platform.tenants[0].domains[0]: "example.com" covers "example.com" of tenant "c": one tenant\'s routes could take the other\'s traffic',
      'maas-billing:platform.tenants[0].domains[0]: "example.com" covers "deep.x.example.com" of tenant "c": one tenant\'s routes could take the other\'s traffic',
      'maas-billing:platform.tenants[1].domains[0]: "x.example.com" covers "deep.x.example.com" of tenant "c": one tenant\'s routes could take the other\'s traffic',
      'maas-billing:platform.tenants[2].domains[0]: "example.com" covers "example.com" of tenant "a": one tenant\'s routes could take the other\'s traffic',
      'maas-billing:platform.tenants[2].domains[0]: "example.com" covers "x.example.com" of tenant "b": one tenant\'s routes could take the other\'s traffic',
    ]);
  });

  it("reports exactly what the pairwise rule (each domain against every other tenant's) reports, in its order (property)", async () => {
    const fc = await import("fast-check");
    const domain = fc.array(fc.constantFrom("a", "b", "xa", "com"), { minLength: 2, maxLength: 4 }).map((labels) => labels.join("."));
    const registry = fc.array(fc.array(domain, { maxLength: 3 }), { minLength: 2, maxLength: 5 });
    fc.assert(
      fc.property(registry, (domainsPerTenant) => {
        const tenants = domainsPerTenant.map((domains, i) => ({ name: `t${i}`, domains }));
        const under = (host: string, d: string) => host === d || host.endsWith(`.${d}`);
        const expected = tenants.flatMap((t, i) =>
          t.domains.flatMap((d, j) =>
            tenants.flatMap((o, k) =>
              k === i ? [] : o.domains.filter((od) => under(od, d)).map((od) => `maas-billing:platform.tenants[${i}].domains[${j}]: "${d}" covers "${od}" of tenant "${o.name}": one tenant's routes could take the other's traffic`),
            ),
          ),
        );
        expect(problemsOf(tenantsPlatform(tenants))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a namespace two tenants claim, a duplicate sender each time it repeats, and a source bound twice", () => {
    expect(errorsIn(tenantsPlatform([{ name: "a", namespaces: ["shared", "a-models"] }, { name: "b", namespaces: ["b-models", "shared"] }]))).toEqual([
      'maas-billing:platform.tenants[1].namespaces: namespace "shared" already belongs to tenant "a"',
    ]);
    const senders = [
      { name: "s", sources: ["//one"] },
      { name: "t", sources: ["//two"] },
      { name: "s", sources: ["//three"] },
      { name: "s", sources: ["//two"] },
    ];
    expect(errorsIn({ flavor: "openshift", platform: { billing: { image: testImage, senders } } })).toEqual([
      'maas-billing:platform.billing.senders[2].name: duplicate sender "s"',
      'maas-billing:platform.billing.senders[3].name: duplicate sender "s"',
      'maas-billing:platform.billing.senders[3].sources[0]: source "//two" is already bound to sender "t": one source, one sender',
    ]);
  });

  it("holds each tenant to its own priced tiers: another tenant's contract tier is refused, its own accepted, an unknown contract tenant named", () => {
    const priceBook = {
      currency: "USD",
      minorUnitDigits: 2,
      versions: [
        {
          effectiveFrom: "2026-01-01T00:00:00Z",
          prices: [
            { tier: "free", model: "*", inputPerMillionTokens: "3.00", outputPerMillionTokens: "15.00", perRequest: "0.001" },
            { tier: "gold", tenant: "a", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "5.00", perRequest: "0.001" },
            { tier: "silver", tenant: "ghost", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "5.00", perRequest: "0.001" },
          ],
        },
      ],
    };
    const errors = errorsIn(
      tenantsPlatform(
        [
          { name: "a", allowedTiers: ["gold", "free"] },
          { name: "b", allowedTiers: ["free", "gold"] },
        ],
        { billing: { image: testImage, priceBook } },
      ),
    );
    expect(errors).toEqual([
      'maas-billing:platform.billing.priceBook: contract prices for tenant "ghost", which is not in platform.tenants ("a", "b"): fix the entry\'s tenant or register the tenant',
      'maas-billing:platform.tenants[1].allowedTiers[1]: tier "gold" has no price of its own in billing.priceBook (it prices "free")',
    ]);
  });
});

describe("platform.database.maxConnections holds the billing pods' pools (review R4)", () => {
  // The figures the service opens its pools with: the platform-service contract, not a copy.
  const perPod = Math.max(SERVE_POOL_MAX, COMMAND_POOL_MAX);
  const reserved = DATABASE_RESERVED_CONNECTIONS;
  const withDb = (billing: Record<string, unknown>, maxConnections?: number) => ({
    flavor: "kubernetes",
    platform: platform({ billing: { image: testImage, ...billing }, ...(maxConnections === undefined ? {} : { database: { maxConnections } }) }),
  });

  it("defaults to PostgreSQL's 100 and renders it (and the reserved slots it counted) into the server's command line", () => {
    const c = parse(withDb({}));
    expect(c.platform?.database.maxConnections).toBe(100);
    expect(databaseServerArgs(c.platform!.database)).toEqual(["postgres", "-c", "max_connections=100", "-c", `superuser_reserved_connections=${reserved}`]);
    const spec = databaseStatefulSetSpec("kubernetes", c.platform!.database) as { template: { spec: { containers: Array<{ args?: string[] }> } } };
    expect(spec.template.spec.containers[0].args).toEqual(databaseServerArgs(c.platform!.database));
  });

  it("refuses replicas whose pools (plus a rolling update's extra pods and the reserved slots) exceed max_connections, naming both fields and the fix", () => {
    // 5 replicas roll with ceil(5/4) = 2 extra pods: 7 pods x 16 + 3 = 115 > 100.
    const needed = 7 * perPod + reserved;
    expect(needed).toBeGreaterThan(100);
    expect(errorsIn(withDb({ replicas: 5 }))).toEqual([
      `maas-billing:platform.database.maxConnections: 100 connections cannot hold the billing pods' database pools: billing.replicas 5 + 2 new pod(s) during a rolling update = 7 pod(s) x ${perPod} (serve's pool, SERVE_POOL_MAX) + ${reserved} reserved for superusers = ${needed}. Set platform.database.maxConnections to at least ${needed}, or lower platform.billing.replicas to 4`,
    ]);
  });

  it("either fix the message names is accepted; one connection short is not (the boundary is the figure in the message)", () => {
    const needed = 7 * perPod + reserved;
    expect(parse(withDb({ replicas: 5 }, needed)).platform?.database.maxConnections).toBe(needed);
    expect(errorsIn(withDb({ replicas: 5 }, needed - 1))[0]).toContain(`= ${needed}. Set platform.database.maxConnections to at least ${needed}, or lower platform.billing.replicas to 4`);
    expect(() => parse(withDb({ replicas: 4 }))).not.toThrow(); // 4 + 1 pods x 16 + 3 = 83
    // The most replicas the schema allows, with the figure the message asks for.
    const most = errorsIn(withDb({ replicas: 20 }))[0];
    const asked = Number(/at least (\d+)/.exec(most)?.[1]);
    expect(asked).toBe(25 * perPod + reserved);
    expect(() => parse(withDb({ replicas: 20 }, asked))).not.toThrow();
  });

  it("a Recreate Deployment (ReadWriteOnce exports volume) has no extra pod during an update", () => {
    const rwo = { replicas: 1, monthEndClose: { sink: { kind: "volume", accessMode: "ReadWriteOnce" } } };
    const needed = 1 * perPod + reserved;
    expect(() => parse(withDb(rwo, needed))).not.toThrow();
    expect(errorsIn(withDb(rwo, needed - 1))).toEqual([
      `maas-billing:platform.database.maxConnections: ${needed - 1} connections cannot hold the billing pods' database pools: billing.replicas 1 = 1 pod(s) x ${perPod} (serve's pool, SERVE_POOL_MAX) + ${reserved} reserved for superusers = ${needed}. Set platform.database.maxConnections to at least ${needed}`,
    ]);
  });

  it("is reported next to the other cross-field refusals, not instead of them", () => {
    const errors = errorsIn({ flavor: "kubernetes", platform: platform({ billing: { image: testImage, replicas: 6 }, limitador: { verbosity: 2 } }) });
    expect(errors.map((e) => e.split(":")[1])).toEqual(["platform.limitador.verbosity", "platform.database.maxConnections"]);
  });
});
