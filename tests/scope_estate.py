"""A small ML estate on both clouds for scope tests: AWS documents shaped like the collector's
(describe responses plus joined Tags/EndpointConfig), GCP documents shaped like the Cloud Asset
normaliser's (resource.data plus assetType/ancestors/location)."""

from __future__ import annotations

from typing import Any

from auditor.models import EvidenceDoc

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/claims-trainer"
ECR_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/claims-xgb"


def aws(resource_type: str, resource_id: str, name: str, data: dict[str, Any]) -> EvidenceDoc:
    region = "global" if resource_type in ("AWS::IAM::Role", "AWS::::Account") else REGION
    return EvidenceDoc("aws", ACCOUNT, region, resource_type, resource_id, name, data)


def bucket(name: str, **tags: str) -> EvidenceDoc:
    return aws(
        "AWS::S3::Bucket",
        f"arn:aws:s3:::{name}",
        name,
        {
            "Name": name,
            "Region": REGION,
            "Encryption": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "Tags": [{"Key": k.replace("_", "-"), "Value": v} for k, v in tags.items()],
        },
    )


def sm_arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def training_job(name: str, train_uri: str, output: str) -> EvidenceDoc:
    """Shaped like DescribeTrainingJob plus the collector's Tags join."""
    return aws(
        "AWS::SageMaker::TrainingJob",
        sm_arn("training-job", name),
        name,
        {
            "TrainingJobName": name,
            "TrainingJobArn": sm_arn("training-job", name),
            "AlgorithmSpecification": {
                "TrainingImage": f"{ECR_URI}:1.7-1",
                "TrainingInputMode": "File",
            },
            "RoleArn": ROLE_ARN,
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train_uri}},
                }
            ],
            "OutputDataConfig": {"KmsKeyId": KEY_ARN, "S3OutputPath": output},
            "ModelArtifacts": {"S3ModelArtifacts": f"{output}{name}/output/model.tar.gz"},
            "EnableNetworkIsolation": True,
            "Tags": [],
        },
    )


def model(name: str, model_data_url: str) -> EvidenceDoc:
    return aws(
        "AWS::SageMaker::Model",
        sm_arn("model", name),
        name,
        {
            "ModelName": name,
            "ModelArn": sm_arn("model", name),
            "ExecutionRoleArn": ROLE_ARN,
            "PrimaryContainer": {"Image": f"{ECR_URI}:serve-1", "ModelDataUrl": model_data_url},
            "EnableNetworkIsolation": True,
            "Tags": [],
        },
    )


def endpoint_config(name: str, model_name: str, capture: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "EndpointConfigName": name,
        "EndpointConfigArn": sm_arn("endpoint-config", name),
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model_name}],
        "KmsKeyId": KEY_ARN,
    }
    if capture:
        data["DataCaptureConfig"] = {"EnableCapture": True, "DestinationS3Uri": capture}
    return data


def aws_estate() -> list[EvidenceDoc]:
    config = endpoint_config("claims-ec", "claims-model", "s3://capture-logs/claims/")
    return [
        bucket("claims-phi", data_class="phi"),
        bucket("ml-artifacts"),
        bucket("capture-logs"),
        bucket("marketing", data_class="pii"),
        bucket("scratch"),
        training_job("claims-train", "s3://claims-phi/train/", "s3://ml-artifacts/claims/"),
        training_job("churn-train", "s3://marketing/churn/", "s3://ml-artifacts/churn/"),
        model("claims-model", "s3://ml-artifacts/claims/claims-train/output/model.tar.gz"),
        model("churn-model", "s3://ml-artifacts/churn/churn-train/output/model.tar.gz"),
        aws(
            "AWS::SageMaker::EndpointConfig",
            sm_arn("endpoint-config", "claims-ec"),
            "claims-ec",
            config,
        ),
        aws(
            "AWS::SageMaker::Endpoint",
            sm_arn("endpoint", "claims-endpoint"),
            "claims-endpoint",
            {
                "EndpointName": "claims-endpoint",
                "EndpointArn": sm_arn("endpoint", "claims-endpoint"),
                "EndpointConfigName": "claims-ec",
                "EndpointConfig": config,
                "Tags": [],
            },
        ),
        aws(
            "AWS::KMS::Key",
            KEY_ARN,
            "1111aaaa",
            {
                "KeyId": "1111aaaa-2222-bbbb-3333-cccc4444dddd",
                "Arn": KEY_ARN,
                "Aliases": ["alias/ml"],
            },
        ),
        aws(
            "AWS::IAM::Role",
            ROLE_ARN,
            "claims-trainer",
            {"RoleName": "claims-trainer", "Arn": ROLE_ARN},
        ),
        aws(
            "AWS::ECR::Repository",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/claims-xgb",
            "claims-xgb",
            {"repositoryName": "claims-xgb", "repositoryUri": ECR_URI},
        ),
        aws("AWS::::Account", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, {"AccountId": ACCOUNT}),
        aws(
            "AWS::CloudTrail::Trail",
            f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/org",
            "org",
            {"Name": "org", "IsMultiRegionTrail": True},
        ),
    ]


PROJECT = "acme-phi"
NUMBER = "310000000099"
VERTEX = f"projects/{NUMBER}/locations/europe-west4"


def gcp(resource_type: str, resource_id: str, name: str, data: dict[str, Any]) -> EvidenceDoc:
    """Shaped like auditor.collect.gcp.assets.build_document: resource.data plus envelope keys."""
    full = {
        **data,
        "assetType": resource_type,
        "ancestors": [f"projects/{NUMBER}", "folders/420", "organizations/410"],
        "location": "europe-west4",
        "updateTime": "2026-09-30T22:14:05Z",
    }
    return EvidenceDoc("gcp", PROJECT, "europe-west4", resource_type, resource_id, name, full)


def gcp_estate() -> list[EvidenceDoc]:
    return [
        gcp(
            "storage.googleapis.com/Bucket",
            "//storage.googleapis.com/phi-notes",
            "phi-notes",
            {"name": "phi-notes", "labels": {"data-class": "phi"}},
        ),
        gcp(
            "storage.googleapis.com/Bucket",
            "//storage.googleapis.com/vertex-models",
            "vertex-models",
            {"name": "vertex-models"},
        ),
        gcp(
            "aiplatform.googleapis.com/CustomJob",
            f"//aiplatform.googleapis.com/{VERTEX}/customJobs/111",
            "111",
            {
                "name": f"{VERTEX}/customJobs/111",
                "displayName": "notes-train",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {
                            "containerSpec": {
                                "imageUri": "europe-west4-docker.pkg.dev/acme-phi/training/notes:1",
                                "args": ["--data=gs://phi-notes/2026/"],
                            }
                        }
                    ],
                    "serviceAccount": "trainer@acme-phi.iam.gserviceaccount.com",
                    "baseOutputDirectory": {"outputUriPrefix": "gs://vertex-models/notes/111"},
                },
            },
        ),
        gcp(
            "aiplatform.googleapis.com/Model",
            f"//aiplatform.googleapis.com/{VERTEX}/models/222",
            "222",
            {
                "name": f"{VERTEX}/models/222",
                "displayName": "notes-model",
                "artifactUri": "gs://vertex-models/notes/111/model/",
            },
        ),
        gcp(
            "aiplatform.googleapis.com/Endpoint",
            f"//aiplatform.googleapis.com/{VERTEX}/endpoints/333",
            "333",
            {
                "name": f"{VERTEX}/endpoints/333",
                "displayName": "notes-endpoint",
                "deployedModels": [{"id": "9", "model": f"{VERTEX}/models/222"}],
                "predictRequestResponseLoggingConfig": {
                    "enabled": True,
                    "bigqueryDestination": {"outputUri": "bq://acme-phi.logs.notes"},
                },
            },
        ),
        gcp(
            "bigquery.googleapis.com/Dataset",
            f"//bigquery.googleapis.com/projects/{PROJECT}/datasets/logs",
            "logs",
            {"datasetReference": {"projectId": PROJECT, "datasetId": "logs"}},
        ),
        gcp(
            "artifactregistry.googleapis.com/Repository",
            f"//artifactregistry.googleapis.com/projects/{PROJECT}/locations/europe-west4/repositories/training",
            "training",
            {"format": "DOCKER"},
        ),
        gcp(
            "cloudresourcemanager.googleapis.com/Project",
            f"//cloudresourcemanager.googleapis.com/projects/{NUMBER}",
            PROJECT,
            {"projectId": PROJECT},
        ),
    ]


def store_with_estate(path: str) -> str:
    """An evidence store holding one AWS and one GCP snapshot of the estate above."""
    from auditor.evidence import open_store

    store = open_store(path)
    for provider, docs in (("aws", aws_estate()), ("gcp", gcp_estate())):
        with store.begin_snapshot(provider, {"estate": "scope tests"}, "c" * 64) as writer:
            for doc in docs:
                writer.add(doc)
            writer.set_stats({})
    return path
