import { stringify } from "yaml";
import { z } from "zod";
import { dnsLabel } from "../config/common";

/*
 * Alert receivers as configuration, and the Alertmanager configuration they render to (a pure
 * function, so tests run it through the real Alertmanager). Credentials never appear in the config:
 * a receiver names a Kubernetes Secret key, mounted into the Alertmanager pod and referenced as a
 * file (`credentials_file`, `auth_password_file`).
 */

const secretKeyRef = z
  .strictObject({
    name: dnsLabel.describe("Secret name (in the Alertmanager's namespace)."),
    key: z.string().regex(/^[-._a-zA-Z0-9]+$/, "expected a Secret data key, e.g. token").describe("Key in the Secret."),
  })
  .describe("A key of an existing Kubernetes Secret.");

const webhookUrl = z
  .url({ error: 'expected an http(s) URL. Example: "https://alerts.example.com/hook"' })
  .refine((u) => /^https?:\/\//.test(u), "expected an http(s) URL")
  .refine((u) => !/^https?:\/\/[^/]*@/.test(u), "must not carry credentials (user:password@): put a token in bearerTokenSecret");

export const receiverSchema = z
  .strictObject({
    name: dnsLabel.refine((n) => n !== "discard", '"discard" is reserved (the route for alerts no receiver takes)').describe("Receiver name."),
    webhook: z
      .strictObject({
        url: webhookUrl.describe("Where Alertmanager POSTs its webhook JSON."),
        bearerTokenSecret: secretKeyRef.optional().describe("Bearer token sent as `Authorization: Bearer <token>`, read from this Secret key."),
        sendResolved: z.boolean().default(true).describe("Also notify when the alert resolves."),
      })
      .optional(),
    email: z
      .strictObject({
        to: z.email().describe("Recipient."),
        from: z.email().describe("Sender address."),
        smarthost: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port. Example: "smtp.example.com:587"').describe("SMTP server host:port."),
        authUsername: z.string().min(1).optional().describe("SMTP user."),
        authPasswordSecret: secretKeyRef.optional().describe("SMTP password, read from this Secret key."),
        requireTls: z.boolean().default(true).describe("Require STARTTLS."),
      })
      .optional(),
  })
  .refine((r) => r.webhook !== undefined || r.email !== undefined, "a receiver needs webhook or email (or both)");

export type Receiver = z.infer<typeof receiverSchema>;

/** Where a Secret key is mounted in the Alertmanager pod. */
export const secretMountPath = (ref: { name: string; key: string }): string => `/etc/alertmanager/secrets/${ref.name}/${ref.key}`;

/** The Secrets (and keys) a set of receivers needs mounted. */
export const receiverSecrets = (receivers: readonly Receiver[]): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>();
  const add = (ref?: { name: string; key: string }) => {
    if (!ref) return;
    out.set(ref.name, (out.get(ref.name) ?? new Set()).add(ref.key));
  };
  for (const r of receivers) {
    add(r.webhook?.bearerTokenSecret);
    add(r.email?.authPasswordSecret);
  }
  return out;
};

export interface AlertmanagerConfigInput {
  readonly receivers: readonly Receiver[];
  /**
   * Only alerts carrying these labels reach the receivers (a tenant's Alertmanager passes only
   * `tenant=<name>`, the tenant Prometheus' external label); anything else goes nowhere.
   */
  readonly requireLabels?: Readonly<Record<string, string>>;
  /** Group wait (Prometheus duration). Defaults to 30s. */
  readonly groupWait?: string;
}

const escapeMatcherValue = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/** Renders alertmanager.yml: every receiver gets every alert that passes `requireLabels`. */
export function renderAlertmanagerConfig(input: AlertmanagerConfigInput): string {
  const matchers = Object.entries(input.requireLabels ?? {}).map(([k, v]) => `${k}="${escapeMatcherValue(v)}"`);
  const receivers = input.receivers.map((r) => ({
    name: r.name,
    ...(r.webhook
      ? {
          webhook_configs: [
            {
              url: r.webhook.url,
              send_resolved: r.webhook.sendResolved,
              ...(r.webhook.bearerTokenSecret
                ? { http_config: { authorization: { type: "Bearer", credentials_file: secretMountPath(r.webhook.bearerTokenSecret) } } }
                : {}),
            },
          ],
        }
      : {}),
    ...(r.email
      ? {
          email_configs: [
            {
              to: r.email.to,
              from: r.email.from,
              smarthost: r.email.smarthost,
              require_tls: r.email.requireTls,
              ...(r.email.authUsername ? { auth_username: r.email.authUsername } : {}),
              ...(r.email.authPasswordSecret ? { auth_password_file: secretMountPath(r.email.authPasswordSecret) } : {}),
            },
          ],
        }
      : {}),
  }));
  const config = {
    route: {
      // Alerts that match no child route (e.g. another tenant's label) are dropped here.
      receiver: "discard",
      group_by: ["alertname", "tenant"],
      group_wait: input.groupWait ?? "30s",
      group_interval: "5m",
      repeat_interval: "4h",
      routes: input.receivers.map((r) => ({ receiver: r.name, continue: true, ...(matchers.length ? { matchers } : {}) })),
    },
    receivers: [{ name: "discard" }, ...receivers],
  };
  return stringify(config, { lineWidth: 0 });
}
