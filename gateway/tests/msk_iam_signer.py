"""Prints the presigned URL AWS's own Python MSK IAM signer makes for fixed
credentials at a fixed time, for gateway/tests/msk_iam.rs to compare with
ours. Usage: msk_iam_signer.py REGION EPOCH_SECONDS ACCESS SECRET TOKEN"""
import base64
import datetime
import sys

import botocore.auth
from botocore.credentials import Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

region, epoch, access, secret, token = sys.argv[1:6]
token = token or None  # an empty argument: long-term keys, no session
fixed = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).replace(tzinfo=None)


class FixedClock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return fixed


# botocore reads the clock through its module's `datetime.datetime`.
botocore.auth.datetime.datetime = FixedClock
# The library's public functions look credentials up themselves; its
# token builder takes them as given.
construct = getattr(MSKAuthTokenProvider, "__construct_auth_token")
signed, expiry_ms = construct(region, Credentials(access, secret, token))
padding = "=" * (-len(signed) % 4)
print(base64.urlsafe_b64decode(signed + padding).decode())
print(expiry_ms)
