/** `maas-billing invoice` (being built). */
import { Command } from "commander";

export const invoiceCommand = (): Command =>
  new Command("invoice").description("invoice (not implemented yet)").action(() => {
    throw new Error("invoice is not implemented yet");
  });
