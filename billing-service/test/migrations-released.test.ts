/*
 * Released migrations are never edited (src/db/migrations.ts): a database that applied one would
 * never see the change. Their SQL text is pinned here by SHA-256 (taken from the literal text each
 * was released with), so a refactor of how the text is written (collectorTable(), the templates of
 * src/db/migration-sql.ts) must produce the same bytes. A new migration needs no entry; add
 * one when it is released.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../src/db/migrations";

const RELEASED: Readonly<Record<number, string>> = {
  50: "36847b642391b47c2a51924243adec84e52a3443af21c16cf8e258ec71d1884e",
  1: "b598f2d07de201caeca41f37aff2bbdead4f7db324a8790252394bf83837e9ec",
  2: "4b4013593bb39554992a36f2a393c21e35d73ee2dbb8be9bcf0035a568bfc54a",
  3: "c2100acb94e40c88a417e4fdc816347a9d946e33ba996f25e3a7d53700711799",
  4: "25fbab63b5023188fceb76abf3b3f03253114fba90c678300af42eb272c01410",
  5: "6fcb2bb589e4cb92a40a2a82eb0af9f3559d3b33dab0c98617886f1643cbd902",
  6: "26db0047ab196322f3e0916500d30dc0511f975aa61ec65f522def0019417bf1",
  7: "df48159a47321b00c79d50466f2badb0aef1b097064ceb9c7c459fd6eef69219",
  110: "855bbd120ad93d125933f89b43e76f0e065c68ba3775bf3998e56dcd1aecc63a",
  40: "c4c1fdf715eeb502284559cf54e00f7e5252278a45b99a5fecb460ac235fcd4e",
  30: "fc35120b76a95d0598fff57e9e7a7dcf4e603e74b68b77545c950c704e68b341",
  31: "47522a1bf22a4a500d277b805e582d0591caba121946e8c832bf6e5abd2b12d2",
  32: "cb22a6549d3cecaf2b51ffc570f6c922426f2780f6bcba9ce22f868ce8c21df1",
  11: "648e5b810ca1a21cc27c484636729104cc962bcf9e55620ae9c330f802501b6f",
  10: "84b270df1c5cce8251449c2e9fb64a418efcd28ef65137e940c9a03ad8ad60a2",
  70: "4954ac72adafc1e6707cc9f950e9bac264e8544f5753afd969bbd411c7c7dfc9",
  71: "fd8cdb4176eb3a64cce74c7b3d6ae1d2170ef968cb0e274b6cd87ecf35a89f9b",
  60: "0e8f9f05f891b8064919237ac64b3378f6ccca75bc7049c4a35ecf9f34dadc94",
  61: "e3b22725311bf31a815dd7afd95471e37d1a9104316e46ffe42895eaabc9bd45",
  62: "ef5646e64601524973150bb3e46629a66f50aa6ee5fd7415e81be88880cf851b",
};

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

describe("released migrations", () => {
  it("are all still there, with the SQL text they were released with", () => {
    const byId = new Map(MIGRATIONS.map((m) => [m.id, m]));
    for (const [id, hash] of Object.entries(RELEASED)) {
      const migration = byId.get(Number(id));
      expect(migration, `migration ${id} is missing`).toBeDefined();
      expect(sha256(migration!.sql), `migration ${id} (${migration!.name}) was edited: write a new migration instead`).toBe(hash);
    }
  });

  it("have unique ids", () => {
    expect(new Set(MIGRATIONS.map((m) => m.id)).size).toBe(MIGRATIONS.length);
  });
});
