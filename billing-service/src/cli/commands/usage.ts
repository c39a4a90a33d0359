/** `maas-billing usage` (being built). */
import { Command } from "commander";

export const usageCommand = (): Command =>
  new Command("usage").description("usage (not implemented yet)").action(() => {
    throw new Error("usage is not implemented yet");
  });
