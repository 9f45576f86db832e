"""The object store on AWS: S3 through boto3.

Atomicity comes from S3 itself: a PUT or a completed multipart upload becomes
visible whole, and an aborted upload leaves the previous object in place.
botocore retries throttling and 5xx first (standard mode when we build the
client); what still fails is raised as :class:`~cloudphot.errors.Throttled`
(``SlowDown``, 503) so Step Functions' Retry can back off further.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ObjectNotFound, StorageError, Throttled, TransientError
from ..storage.objects import ObjectInfo, ObjectStore, check_range
from .codes import is_server_error, is_throttling

__all__ = ["S3ObjectStore"]

_NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
#: CopyObject copies up to 5 GiB in one request (S3's limit); above, a multipart copy
_COPY_OBJECT_MAX = 5 << 30
#: part size of a multipart copy (a 50 GiB object: 100 UploadPartCopy requests)
_COPY_PART = 512 << 20


def _object_args(content_type: str | None, metadata: dict[str, str] | None) -> dict[str, Any]:
    """ContentType / Metadata request arguments, only those that are set."""
    extra: dict[str, Any] = {}
    if content_type:
        extra["ContentType"] = content_type
    if metadata:
        extra["Metadata"] = dict(metadata)
    return extra


def _strip_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


class S3ObjectStore(ObjectStore):
    """Buckets in S3. ``client`` is any boto3 S3 client (moto, stubs, endpoints)."""

    def __init__(self, client: Any = None, region: str | None = None, *, max_attempts: int = 8):
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                region_name=region,
                config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
            )
        self.client = client

    def __repr__(self) -> str:
        return f"S3ObjectStore(region={self.client.meta.region_name!r})"

    # errors -----------------------------------------------------------------
    @staticmethod
    def _error(exc: BaseException, bucket: str, key: str | None, action: str) -> Exception:
        """Translate a boto3/botocore exception into cloudphot's hierarchy."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        where = f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"
        cause = exc
        # boto3's transfer manager wraps the ClientError (S3UploadFailedError): look inside
        while not isinstance(cause, (ClientError, BotoCoreError)) and cause.__context__ is not None:
            cause = cause.__context__
        if isinstance(cause, ClientError):
            err = cause.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = err.get("Message") or str(cause)
            if code in _NOT_FOUND and key is not None:
                return ObjectNotFound(bucket, key)
            if code == "NoSuchBucket":
                return StorageError(f"cannot {action} {where}: bucket {bucket!r} does not exist")
            if is_throttling("s3", code) or status == 503:
                return Throttled(f"cannot {action} {where}: S3 is throttling ({code}: {message})")
            if is_server_error("s3", code) or (isinstance(status, int) and status >= 500):
                return TransientError(f"cannot {action} {where}: S3 failed ({code}: {message})")
            if code in ("403", "AccessDenied") and action == "head":
                message += (
                    " (S3 answers 403, not 404, for a missing key when the caller "
                    "lacks s3:ListBucket on the bucket)"
                )
            return StorageError(f"cannot {action} {where}: {code}: {message}")
        if isinstance(cause, (BotoConnectionError, HTTPClientError)):
            return TransientError(f"cannot {action} {where}: {cause}")
        return StorageError(f"cannot {action} {where}: {exc}")

    def _info(self, bucket: str, key: str, response: dict) -> ObjectInfo:
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(response["ContentLength"]),
            etag=_strip_etag(response.get("ETag")),
            last_modified=response["LastModified"],
            version_id=_version(response.get("VersionId")),
        )

    # writing ----------------------------------------------------------------
    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        extra = _object_args(content_type, metadata)
        try:
            resp = self.client.put_object(Bucket=bucket, Key=key, Body=bytes(data), **extra)
        except Exception as exc:
            raise self._error(exc, bucket, key, "put") from exc
        # PutObject returns no LastModified; the response's Date is when S3 stored it
        date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            modified = email.utils.parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            modified = None
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=len(data),
            etag=_strip_etag(resp.get("ETag")),
            last_modified=modified or datetime.now(UTC),
            version_id=_version(resp.get("VersionId")),
        )

    def put_bytes_if(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        etag: str | None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """PutObject with ``If-None-Match: *`` (no object yet) or ``If-Match: <etag>``."""
        from ..errors import ConditionFailed

        cond = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": f'"{etag}"'}
        extra = _object_args(content_type, None)
        try:
            resp = self.client.put_object(Bucket=bucket, Key=key, Body=bytes(data), **cond, **extra)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            # (If-Match on a missing key: S3 answers 404 NoSuchKey)
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409") or (
                etag is not None and code in ("NoSuchKey", "404")
            ):
                raise ConditionFailed(
                    f"s3://{bucket}/{key} changed: the write expected "
                    f"{etag or 'no object'} ({code})"
                ) from exc
            raise self._error(exc, bucket, key, "put") from exc
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=len(data),
            etag=_strip_etag(resp.get("ETag")),
            last_modified=datetime.now(UTC),
            version_id=_version(resp.get("VersionId")),
        )

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str | Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Upload with the transfer manager (multipart above 8 MB), then HEAD for the etag.

        Under a racing writer on the same key the HEAD may describe the other
        writer's object, which is what a reader would now see anyway. With ``sha256``
        a file up to 5 GiB goes in one PutObject carrying ``ChecksumSHA256``: S3 refuses
        a body that does not match and keeps the digest (a full-object checksum).
        """
        if sha256 is not None and Path(path).stat().st_size <= 5 << 30:
            import base64

            b64 = base64.b64encode(bytes.fromhex(sha256)).decode()
            try:
                with open(path, "rb") as body:
                    self.client.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=body,
                        ChecksumSHA256=b64,
                        **_object_args(content_type, metadata),
                    )
            except FileNotFoundError as exc:
                raise StorageError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from exc
            except Exception as exc:
                raise self._error(exc, bucket, key, "upload") from exc
            return self.head(bucket, key)
        try:
            self.client.upload_file(
                str(path), bucket, key, ExtraArgs=_object_args(content_type, metadata) or None
            )
        except FileNotFoundError as exc:
            raise StorageError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from exc
        except Exception as exc:
            raise self._error(exc, bucket, key, "upload") from exc
        return self.head(bucket, key)

    def put_fileobj(
        self,
        bucket: str,
        key: str,
        fileobj: BinaryIO,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Stream ``fileobj`` to S3; a failing read aborts the upload, the old object stays."""
        extra = _object_args(content_type, metadata)
        try:
            self.client.upload_fileobj(fileobj, bucket, key, ExtraArgs=extra or None)
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if not isinstance(exc, (BotoCoreError, ClientError)) and not _wraps_client_error(exc):
                raise  # the source stream failed: its own error says more than ours would
            raise self._error(exc, bucket, key, "upload") from exc
        return self.head(bucket, key)

    def copy(
        self, bucket: str, src_key: str, dst_key: str, *, dst_bucket: str | None = None
    ) -> ObjectInfo:
        """Server-side copy: CopyObject, or a managed multipart copy above 5 GiB.

        S3 copies the content type and user metadata with the bytes (the multipart
        path passes them on explicitly). The copy is pinned to the source's etag as
        the HEAD saw it (``CopySourceIfMatch``): a source replaced meanwhile raises
        :class:`~cloudphot.errors.TransientError`, and a retry copies the new one.
        """
        dst_bucket = bucket if dst_bucket is None else dst_bucket
        if (bucket, src_key) == (dst_bucket, dst_key):
            raise StorageError(f"cannot copy s3://{bucket}/{src_key} onto itself")
        try:
            head = self.client.head_object(Bucket=bucket, Key=src_key)
        except Exception as exc:
            raise self._error(exc, bucket, src_key, "head") from exc
        source = self._info(bucket, src_key, head)
        copy_source = {"Bucket": bucket, "Key": src_key}
        try:
            if source.size <= _COPY_OBJECT_MAX:
                resp = self.client.copy_object(
                    CopySource=copy_source,
                    Bucket=dst_bucket,
                    Key=dst_key,
                    CopySourceIfMatch=head["ETag"],
                )
                result = resp["CopyObjectResult"]
                return ObjectInfo(
                    bucket=dst_bucket,
                    key=dst_key,
                    size=source.size,
                    etag=_strip_etag(result.get("ETag")),
                    last_modified=result["LastModified"],
                    version_id=_version(resp.get("VersionId")),
                )
            from boto3.s3.transfer import TransferConfig

            # content type and metadata passed on explicitly: older s3transfer versions
            # may drop them in a multipart copy
            extra = {
                "CopySourceIfMatch": head["ETag"],
                "Metadata": dict(head.get("Metadata") or {}),
                **_object_args(head.get("ContentType"), None),
            }
            self.client.copy(
                copy_source,
                dst_bucket,
                dst_key,
                ExtraArgs=extra,
                Config=TransferConfig(
                    multipart_threshold=_COPY_OBJECT_MAX, multipart_chunksize=_COPY_PART
                ),
            )
        except Exception as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "412"):
                raise TransientError(
                    f"cannot copy s3://{bucket}/{src_key} to s3://{dst_bucket}/{dst_key}: the "
                    "source was replaced while it was being copied; retry"
                ) from exc
            if code == "NoSuchBucket":  # the source's was there a moment ago: the target's
                raise self._error(exc, dst_bucket, dst_key, "copy to") from exc
            raise self._error(
                exc, bucket, src_key, f"copy to s3://{dst_bucket}/{dst_key} from"
            ) from exc
        return self.head(dst_bucket, dst_key)

    # reading ----------------------------------------------------------------
    def recorded_sha256(self, bucket: str, key: str) -> str | None:
        """S3's full-object ``ChecksumSHA256`` of the object (hex), or None."""
        import base64

        try:
            resp = self.client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            raise self._error(exc, bucket, key, "head") from exc
        value = resp.get("ChecksumSHA256")
        if not value or "-" in value or resp.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
            return None
        return base64.b64decode(value).hex()

    def head(self, bucket: str, key: str) -> ObjectInfo:
        try:
            resp = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, bucket, key, "head") from exc
        return self._info(bucket, key, resp)

    def metadata(self, bucket: str, key: str) -> tuple[str | None, dict[str, str]]:
        """(content type, user metadata) of an object."""
        try:
            resp = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, bucket, key, "head") from exc
        return resp.get("ContentType"), dict(resp.get("Metadata") or {})

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            resp = self.client.get_object(Bucket=bucket, Key=key)
            with resp["Body"] as body:
                return body.read()
        except Exception as exc:
            raise self._error(exc, bucket, key, "get") from exc

    def get_range(self, bucket: str, key: str, start: int, end: int | None = None) -> bytes:
        """A ranged GET (``Range: bytes=...``); see :meth:`ObjectStore.get_range`."""
        check_range(start, end)
        if start < 0:
            spec = f"bytes={start}"  # the last -start bytes (all of a shorter object)
        elif end is None:
            spec = f"bytes={start}-"
        elif end > start:
            spec = f"bytes={start}-{end - 1}"  # HTTP ranges include their last byte
        else:  # an empty range has no HTTP form: all there is to check is the object
            self.head(bucket, key)
            return b""
        try:
            resp = self.client.get_object(Bucket=bucket, Key=key, Range=spec)
            with resp["Body"] as body:
                return body.read()
        except Exception as exc:
            if _error_code(exc) == "InvalidRange":  # 416: the object ends before ``start``
                return b""
            raise self._error(exc, bucket, key, "get") from exc

    def download(self, bucket: str, key: str, path: str | Path) -> Path:
        """Download with the transfer manager (it writes a temporary file, then renames)."""
        dest = Path(path)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot download s3://{bucket}/{key} to {dest}: {exc}") from exc
        try:
            self.client.download_file(bucket, key, str(dest))
        except Exception as exc:
            raise self._error(exc, bucket, key, "download") from exc
        return dest

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    yield ObjectInfo(
                        bucket=bucket,
                        key=obj["Key"],
                        size=int(obj["Size"]),
                        etag=_strip_etag(obj.get("ETag")),
                        last_modified=obj["LastModified"],
                    )
        except Exception as exc:
            raise self._error(exc, bucket, None, f"list prefix {prefix!r} of") from exc

    # deleting ---------------------------------------------------------------
    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, bucket, key, "delete") from exc


def _version(version_id: str | None) -> str | None:
    # unversioned buckets report no VersionId, or the literal "null"
    return None if not version_id or version_id == "null" else version_id


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code of a ClientError (or of one a transfer wrapped), else None."""
    from botocore.exceptions import ClientError

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__context__
    return str(cause.response.get("Error", {}).get("Code", "")) if cause is not None else None


def _wraps_client_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    cause = exc.__context__
    while cause is not None:
        if isinstance(cause, (ClientError, BotoCoreError)):
            return True
        cause = cause.__context__
    return False
