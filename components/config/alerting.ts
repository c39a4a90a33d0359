import { z } from "zod";
import { defaultImageRef, defaultImages } from "./images";
import { dnsLabel, pinnedImage, resources } from "./common";

/*
 * Alert receivers as configuration (platform and tenant stacks). Credentials are never config values:
 * a receiver names a key of an existing Kubernetes Secret, which the Alertmanager pod mounts.
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


export const alertmanagerSchema = z.strictObject({
  receivers: z.array(receiverSchema).min(1).describe("Where alerts go; every receiver gets every alert in scope."),
  image: pinnedImage.default(defaultImageRef(defaultImages.alertmanager)).describe("Alertmanager image (tenant Alertmanager and the kubernetes platform Alertmanager; docs/images.md)."),
  resources: resources.default({ requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } }).describe("Resources of the Alertmanager."),
});

export type AlertmanagerSettings = z.infer<typeof alertmanagerSchema>;
