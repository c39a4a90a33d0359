// Webhook endpoints declared by the tenant stack (#16): the render (a signing-key Secret per
// endpoint, a registration Job that holds no secret in its spec), then the rendered Job's own script
// and env run for real: /usr/bin/curl registers the endpoint with a real `maas-billing serve` using
// the tenant's billing token, and a receiver verifies the webhook that follows with the key the
// Secret holds (the `standardwebhooks` library).
import { execFile } from "node:child_process";
import http from "node:http";
import { mkdtemp } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../billing-service/src/auth/static";
import { newWebhookSecret } from "../billing-service/src/webhooks/endpoints";
import type { ServiceRig } from "../billing-service/testkit/rig";
import type { ServiceProcess } from "../billing-service/testkit/service";
import { draftInvoiceNow, startWebhookRig } from "../billing-service/test/support/webhook-service";
import { tenantSpecSchema } from "../components/config/tenant";
import { WEBHOOK_REGISTRATION_SCRIPT, webhookJobEnv } from "../components/tenant/webhooks";
import { findObject, ofKind, platformOutputsFixture, renderConfig } from "./support/stacks";

const run = promisify(execFile);
const platformStack = "acme/maas-billing/platform";

describe("tenant.webhooks render", () => {
  it("a key Secret per endpoint and a Job that only references secrets; a change of the endpoint is a new Job", async () => {
    const fixture = platformOutputsFixture();
    const tenant = { name: "tenant-a", webhooks: [{ name: "finance", url: "https://hooks.example.com/maas", eventTypes: ["invoice.finalized"] }] };
    const r = await renderConfig("tenant-webhooks", { flavor: "openshift", platformStack, tenant }, { [platformStack]: fixture });
    const secret = findObject(r, "Secret", "maas-webhook-finance").object as any;
    expect(secret.metadata.namespace).toBe("tenant-a-monitoring");
    const jobs = ofKind(r, "Job");
    expect(jobs.length).toBe(1);
    const job = jobs[0]!.object as any;
    const text = JSON.stringify(job);
    expect(text).not.toMatch(/whsec_/);
    const env = job.spec.template.spec.containers[0].env as { name: string; value?: string; valueFrom?: unknown }[];
    expect(env.find((e) => e.name === "BILLING_TOKEN")?.valueFrom).toEqual({ secretKeyRef: { name: "maas-billing-token", key: "token" } });
    expect(env.find((e) => e.name === "WEBHOOK_SECRET")?.valueFrom).toEqual({ secretKeyRef: { name: "maas-webhook-finance", key: "secret" } });
    expect(env.find((e) => e.name === "ENDPOINT_URL")?.value).toMatch(/\/v1\/tenants\/tenant-a\/webhooks\/finance$/);
    const changed = await renderConfig(
      "tenant-webhooks-2",
      { flavor: "openshift", platformStack, tenant: { ...tenant, webhooks: [{ ...tenant.webhooks[0], url: "https://hooks.example.com/other" }] } },
      { [platformStack]: fixture },
    );
    expect((ofKind(changed, "Job")[0]!.object as any).metadata.name).not.toBe(job.metadata.name);
  });

  it("refuses a URL with shell or JSON characters, or credentials, naming the key", () => {
    for (const url of ['https://h.example.com/a"b', "https://h.example.com/$(id)", "https://u:p@h.example.com/x"]) {
      const r = tenantSpecSchema.safeParse({ name: "t", webhooks: [{ name: "w", url }] });
      expect(r.success, url).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(["webhooks", 0, "url"]);
    }
  });
});

describe("the rendered registration Job, run for real against the billing service", () => {
  let rig: ServiceRig;
  let service: ServiceProcess;
  let receiver: http.Server;
  const received: { verified: boolean; type: string }[] = [];
  const acme = newToken("acme-admin", { tenant: "acme" });
  const key = newWebhookSecret();

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        let verified = false;
        try {
          new Webhook(key).verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
        received.push({ verified, type: JSON.parse(body).type });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
    // The receiver stands in for an in-cluster one the platform allows.
    rig = await startWebhookRig({ name: "maas-tenant-webhooks", allow: "127.0.0.1/32", tokens: [acme.entry] });
    service = rig.service;
  }, 180_000);

  afterAll(async () => {
    await rig?.stop();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  }, 120_000);

  it("registers the endpoint with the tenant token, and the webhook that follows verifies with the Secret's key", async () => {
    const port = (receiver.address() as AddressInfo).port;
    const spec = tenantSpecSchema.parse({ name: "acme", webhooks: [{ name: "finance", url: `http://127.0.0.1:${port}/hook`, eventTypes: ["invoice.created"] }] });
    // What the kubelet would put in the container's environment: plain values, and the two secretKeyRefs resolved.
    const env: Record<string, string> = {};
    for (const e of webhookJobEnv("acme", spec.webhooks[0]!, service.url)) {
      const name = e.name as string;
      env[name] = (e.value as string | undefined) ?? (name === "BILLING_TOKEN" ? acme.token : key);
    }
    const tmp = await mkdtemp(path.join(rig.work, "job-tmp-"));
    // The script writes its header file under /tmp (an emptyDir in the pod); here under a scratch dir.
    const out = await run("sh", ["-c", WEBHOOK_REGISTRATION_SCRIPT.replaceAll("/tmp/", `${tmp}/`)], { env: { PATH: process.env.PATH ?? "", ...env } });
    expect(out.stdout).toContain("registered 200");
    expect(out.stdout + out.stderr).not.toContain(acme.token);
    expect(out.stdout + out.stderr).not.toContain(key);
    const list = await fetch(`${service.url}/v1/tenants/acme/webhooks`, { headers: { authorization: `Bearer ${acme.token}` } });
    expect(((await list.json()) as { endpoints: { name: string; url: string; eventTypes: string[] }[] }).endpoints).toEqual([
      expect.objectContaining({ name: "finance", url: `http://127.0.0.1:${port}/hook`, eventTypes: ["invoice.created"] }),
    ]);
    // An event, then a draft invoice: invoice.created goes to the endpoint, signed with the key.
    await draftInvoiceNow(service, "acme");
    const deadline = Date.now() + 120_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([{ verified: true, type: "invoice.created" }]);
  }, 180_000);
});
