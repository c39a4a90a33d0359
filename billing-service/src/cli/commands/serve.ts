/** `maas-billing serve` (being built). */
import { Command } from "commander";

export const serveCommand = (): Command =>
  new Command("serve").description("serve (not implemented yet)").action(() => {
    throw new Error("serve is not implemented yet");
  });
