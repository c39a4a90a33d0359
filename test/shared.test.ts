/*
 * components/shared/: the pieces platform and tenant components both use, called as plain
 * functions (no Pulumi mocks).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentChecksum, sha256Hex } from "../components/shared/checksum";
import { httpRouteSpec, routeSpec, type ServiceExposure } from "../components/shared/exposure";
import { containerSecurityContext, podSecurityContext } from "../components/shared/podSecurity";

const exposure: ServiceExposure = {
  name: "svc",
  namespace: "ns",
  labels: { app: "svc" },
  serviceName: "svc",
  port: 8080,
  gateway: { name: "gw", namespace: "gw-ns" },
};
const gateway = { name: "gw", namespace: "gw-ns" };

describe("exposure", () => {
  it("a Route terminates TLS at the edge and redirects plain HTTP", () => {
    expect(routeSpec({ ...exposure, host: "svc.example.com" })).toEqual({
      apiVersion: "route.openshift.io/v1",
      kind: "Route",
      metadata: { name: "svc", namespace: "ns", labels: { app: "svc" } },
      spec: {
        host: "svc.example.com",
        to: { kind: "Service", name: "svc", weight: 100 },
        port: { targetPort: "http" },
        tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" },
      },
    });
    // Without a host the router assigns one.
    expect(routeSpec(exposure).spec).not.toHaveProperty("host");
  });

  it("a Route for one path prefix serves that path, on the host it is given", () => {
    expect(routeSpec(exposure, { path: "/portal/", host: "generated.apps.example.com" }).spec).toEqual({
      host: "generated.apps.example.com",
      path: "/portal/",
      to: { kind: "Service", name: "svc", weight: 100 },
      port: { targetPort: "http" },
      tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" },
    });
    // The placement's host wins over the exposure's; without either there is none.
    expect(routeSpec({ ...exposure, host: "a.example.com" }, { host: "b.example.com" }).spec.host).toBe("b.example.com");
    expect(routeSpec(exposure, { path: "/v1/" }).spec).not.toHaveProperty("host");
  });

  it("an HTTPRoute attaches to the Gateway, with the host and path prefix when given", () => {
    expect(httpRouteSpec({ ...exposure, host: "svc.example.com", pathPrefixes: ["/v1/", "/portal/"] }, gateway).spec).toEqual({
      parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw", namespace: "gw-ns" }],
      hostnames: ["svc.example.com"],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/v1/" } }, { path: { type: "PathPrefix", value: "/portal/" } }],
          backendRefs: [{ name: "svc", port: 8080 }],
        },
      ],
    });
    expect(httpRouteSpec(exposure, gateway).spec).toEqual({
      parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw", namespace: "gw-ns" }],
      rules: [{ backendRefs: [{ name: "svc", port: 8080 }] }],
    });
  });
});

describe("checksum", () => {
  it("is the hex SHA-256 of the UTF-8 text, 16 characters of it for an annotation", () => {
    const text = "tenants: [{ name: tenant-ä }]";
    const expected = createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex");
    expect(sha256Hex(text)).toBe(expected);
    expect(contentChecksum(text)).toBe(expected.slice(0, 16));
    expect(contentChecksum(`${text} `)).not.toBe(contentChecksum(text));
  });
});

describe("pod security", () => {
  it("sets the image's UID on kubernetes and leaves it to the SCC on openshift", () => {
    expect(podSecurityContext("kubernetes", 472)).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" }, runAsUser: 472, runAsGroup: 472, fsGroup: 472 });
    expect(podSecurityContext("openshift", 472)).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(containerSecurityContext()).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true });
  });
});
