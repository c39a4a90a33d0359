import { stringify } from "yaml";
import type { Receiver } from "../config/alerting";

/*
 * The Alertmanager configuration that alert receivers (components/config/alerting.ts) render to, as
 * a pure function so tests run it through the real Alertmanager. Credentials never appear in it: a
 * receiver names a Kubernetes Secret key, mounted into the Alertmanager pod and referenced as a file
 * (`credentials_file`, `auth_password_file`).
 */

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
