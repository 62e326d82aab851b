"""Users, passwords, lockout and role checks in cmcore (the login widget is tested in test_app)."""
import io
from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
import sqlalchemy as sa

from cmcore import auth, cli, db, settings
from cmcore.access import CLI, PAGES, AccessDenied, Principal, pages_for, require
from tests.builders import Community, user

PASSWORD = "correct horse battery"


def test_passwords_are_stored_as_bcrypt_hashes_only(database):
    user("manon", "manager")
    with db.engine().connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM app_user")).scalar_one()
    assert stored.startswith("$2b$") and PASSWORD not in stored
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert auth.credentials()["usernames"]["manon"]["password"] == stored


def test_right_and_wrong_password_against_the_credentials_the_login_form_checks(database):
    user("manon", "manager")
    stored = auth.credentials()["usernames"]["manon"]["password"].encode()
    assert bcrypt.checkpw(PASSWORD.encode(), stored)
    assert not bcrypt.checkpw(b"wrong password", stored)


def test_five_failed_logins_lock_the_account_for_fifteen_minutes(database):
    user("manon", "manager")
    for _ in range(4):
        assert auth.record_failed_login("manon") is None
    assert auth.get_user("manon").failed_logins == 4
    until = auth.record_failed_login("manon")
    assert until is not None
    assert timedelta(minutes=14, seconds=50) < until - datetime.now(UTC) <= timedelta(minutes=15)
    assert auth.locked_until("manon") == until
    # While locked, no password matches and further attempts do not extend the lock.
    locked_hash = auth.credentials()["usernames"]["manon"]["password"].encode()
    assert not bcrypt.checkpw(PASSWORD.encode(), locked_hash)
    assert auth.record_failed_login("manon") == until
    auth.unlock(CLI, "manon")
    assert auth.locked_until("manon") is None
    assert bcrypt.checkpw(PASSWORD.encode(), auth.credentials()["usernames"]["manon"]["password"].encode())


def test_the_lock_expires_by_itself(database):
    user("manon", "manager")
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app_user SET failed_logins = 5,"
                             " locked_until = now() - interval '1 second'"))
    assert auth.locked_until("manon") is None
    assert auth.credentials()["usernames"]["manon"]["password"].startswith("$2b$04$")


def test_a_successful_login_resets_the_count_and_is_audited(database):
    user("manon", "manager")
    auth.record_failed_login("manon")
    assert auth.record_login("manon") == Principal("manon", "manager")
    assert auth.get_user("manon").failed_logins == 0
    with db.engine().connect() as conn:
        actions = conn.execute(sa.text("SELECT action FROM audit_log WHERE entity_id = 'manon' ORDER BY id")).scalars().all()
    assert actions == ["user.add", "login.failed", "login"]


def test_inactive_users_cannot_sign_in(database):
    user("manon", "manager")
    auth.set_active(CLI, "manon", False)
    assert "manon" not in auth.credentials()["usernames"]
    assert auth.principal("manon") is None


def test_user_rules(database):
    sponsor = Community().sponsor("Acme")
    with pytest.raises(auth.UserError, match="at least 10"):
        user("shorty", "staff", password="short")
    with pytest.raises(auth.UserError, match="needs its sponsor"):
        user("acme", "sponsor")
    assert user("acme", "sponsor", sponsor_id=sponsor).sponsor_id == sponsor
    with pytest.raises(auth.UserError, match="already exists"):
        user("ACME", "sponsor", sponsor_id=sponsor)
    with pytest.raises(auth.UserError, match="username is 3 to 40"):
        user("a b", "staff")
    admin = Principal(user("root", "admin").username, "admin")
    with pytest.raises(auth.UserError, match="own role"):
        auth.set_role(admin, "root", "staff")
    auth.set_role(admin, "acme", "manager")
    assert auth.principal("acme") == Principal("acme", "manager")


def test_users_change_their_own_password_with_the_current_one(database):
    user("manon", "manager")
    me = Principal("manon", "manager")
    with pytest.raises(auth.UserError, match="current password is wrong"):
        auth.change_own_password(me, "not it at all", "a brand new password")
    auth.change_own_password(me, PASSWORD, "a brand new password")
    stored = auth.credentials()["usernames"]["manon"]["password"].encode()
    assert bcrypt.checkpw(b"a brand new password", stored)


@pytest.mark.parametrize("role", ["manager", "staff", "sponsor"])
def test_only_admins_manage_users(database, role):
    sponsor = Community().sponsor("Acme") if role == "sponsor" else None
    who = Principal("someone", role, sponsor)
    for call in (lambda: auth.list_users(who),
                 lambda: auth.add_user(who, "eve", "Eve", "admin", PASSWORD),
                 lambda: auth.set_password(who, "eve", PASSWORD),
                 lambda: auth.unlock(who, "eve"),
                 lambda: auth.set_role(who, "eve", "admin")):
        with pytest.raises(AccessDenied):
            call()


def test_roles_see_their_pages_only():
    managers = ["overview", "growth", "retention", "responsiveness", "moderation", "reputation",
                "content", "leaderboard", "rewards", "monetisation", "sponsor_report", "settings"]
    assert pages_for(Principal("a", "admin")) == [*managers, "data", "users", "account"]
    assert pages_for(Principal("m", "manager")) == [*managers, "data", "account"]
    assert pages_for(Principal("s", "staff")) == ["responsiveness", "moderation", "leaderboard", "rewards", "data",
                                                  "account"]
    assert pages_for(Principal("p", "sponsor", 1)) == ["sponsor_report", "account"]
    assert set(PAGES) == {*managers, "data", "users", "account"}
    with pytest.raises(AccessDenied, match="sign in"):
        require(None, "admin")
    with pytest.raises(ValueError):
        Principal("p", "sponsor")  # a sponsor principal always carries its sponsor


def test_cli_adds_lists_and_resets_users(database, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "add", "samia", "--role", "staff", "--name", "Samia", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert cli.main(["users", "passwd", "samia", "--password-stdin"]) == 0
    assert cli.main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "added samia (staff)" in out and "samia" in out.splitlines()[-1]
    assert bcrypt.checkpw(b"another long password",
                          auth.credentials()["usernames"]["samia"]["password"].encode())
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["users", "add", "tim", "--role", "staff", "--password-stdin"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


def test_production_refuses_a_missing_or_short_cookie_key(monkeypatch, tmp_path):
    monkeypatch.setenv("CM_ENV", "production")
    monkeypatch.setenv("CM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CM_COOKIE_KEY", raising=False)
    with pytest.raises(settings.ConfigError, match="CM_COOKIE_KEY"):
        settings.load()
    monkeypatch.setenv("CM_COOKIE_KEY", "too-short")
    with pytest.raises(settings.ConfigError):
        settings.load()
    monkeypatch.setenv("CM_COOKIE_KEY", "k" * 40)
    assert settings.load().cookie_key == "k" * 40


def test_development_never_runs_on_a_known_key(monkeypatch, tmp_path):
    monkeypatch.delenv("CM_ENV", raising=False)
    monkeypatch.delenv("CM_COOKIE_KEY", raising=False)
    monkeypatch.setenv("CM_DATA_DIR", str(tmp_path))
    first = settings.load().cookie_key
    assert len(first) >= 48 and settings.load().cookie_key == first  # generated once, kept
    assert (tmp_path / "cookie_key").stat().st_mode & 0o777 == 0o600
