from flask import Flask, jsonify, session


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "{{FAKE:alnum40#1}}"
    app.config.update(
        MAIL_SERVER="smtp.mailgun.org",
        MAIL_PORT=587,
        MAIL_USERNAME="postmaster@mg.shop.internal",
        MAIL_PASSWORD="{{FAKE:password#1}}",
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://shop:{{FAKE:url_password#1}}@db.internal:5432/shop"

    @app.post("/login/<user>")
    def login(user: str):  # type: ignore[no-untyped-def]
        session["user"] = user
        return jsonify(ok=True)

    @app.get("/whoami")
    def whoami():  # type: ignore[no-untyped-def]
        return jsonify(user=session.get("user", "anonymous"))

    return app
