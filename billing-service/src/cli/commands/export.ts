/** `maas-billing export` (being built). */
import { Command } from "commander";

export const exportCommand = (): Command =>
  new Command("export").description("export (not implemented yet)").action(() => {
    throw new Error("export is not implemented yet");
  });
