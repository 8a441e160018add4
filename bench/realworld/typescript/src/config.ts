export interface DbConfig {
  host: string;
  user: string;
  password: string;
}

export const db: DbConfig = {
  host: "db.internal",
  user: "api",
  password: "{{FAKE:password#1}}",
};

export const STRIPE_SECRET_KEY: string = "{{FAKE:stripe_live_key#1}}";

export const mongoUri = "mongodb+srv://api:{{FAKE:url_password#1}}@cluster0.q7x2z.mongodb.net/app";
