/**
 * The contract between the platform (Pulumi components) and the billing service: env variable
 * names, the collector.yaml shape and its parser, the price-book parser and the mount paths.
 * Components import this module (`billing-service/src/contract`) and test what they render with
 * these parsers. It depends on zod and yaml only, so the Pulumi program can load it.
 */
export * from "./collector-settings";
export * from "./deployment";
export * from "./env";
export { loadPriceBook, parsePriceBook, type PriceBook } from "../pricebook/pricebook";
