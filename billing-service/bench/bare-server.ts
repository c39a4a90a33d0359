// Entry point of the bench's bare node:http baseline server (see http-load.ts).
import { serveBare } from "./http-load";

serveBare();
