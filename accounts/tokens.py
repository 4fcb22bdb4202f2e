from django.contrib.auth.tokens import PasswordResetTokenGenerator


class SignUpTokenGenerator(PasswordResetTokenGenerator):
    """Tokens for the link that confirms a sign-up. Like password-reset tokens they expire
    (PASSWORD_RESET_TIMEOUT) and die when the password changes (a later sign-up for the
    same address replaces it); they also die once the account is active, so a link
    confirms once."""

    key_salt = "accounts.tokens.SignUpTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}"


sign_up_token = SignUpTokenGenerator()
