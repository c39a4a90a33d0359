import { describe, expect, it } from "vitest";
import { commentMarker, formatPreviewComment } from "../scripts/delivery/preview-comment";

describe("pull-request preview comment (scripts/delivery/preview-comment.ts)", () => {
  it("starts with the stack's marker, which post-preview-comment.sh finds its own comment by", () => {
    const body = formatPreviewComment("acme/platform-openshift", { same: 40, update: 2 }, "  ~ kubernetes:apps/v1:Deployment: (update)");
    expect(body.split("\n")[0]).toBe(commentMarker("platform-openshift"));
    expect(body).toContain("Changes: same 40, update 2");
    expect(body).toContain("~ kubernetes:apps/v1:Deployment: (update)");
  });

  it("cannot be broken out of its code block by the diff, and stays under GitHub's comment limit", () => {
    const body = formatPreviewComment("s", { update: 1 }, "```\n# injected heading\n" + "x".repeat(100_000));
    expect(body.match(/```/g)).toHaveLength(2);
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain("(truncated: ");
  });
});
