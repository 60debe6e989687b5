//! Creates on the local endpoint every table, queue (with its redrive policy), secret and
//! schedule group that `template.yaml` declares, and finds what already exists. It also
//! verifies the `MailFrom` parameter's address as an SES identity, so mail from it is
//! accepted (moto, like SES, rejects unverified senders). IAM roles
//! are only named: nothing local checks them. Running it twice changes
//! nothing: existing resources are kept, so a restart of `make dev` keeps local data while
//! moto runs.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::{
    keys,
    stack::{Physical, Stack},
    template::{Template, getatt_target, scalar_string},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The clients the local tools use (endpoint from `AWS_ENDPOINT_URL`).
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub ses: aws_sdk_sesv2::Client,
}

impl Clients {
    pub async fn from_env() -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            streams: aws_sdk_dynamodbstreams::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            scheduler: aws_sdk_scheduler::Client::new(&sdk),
            ses: aws_sdk_sesv2::Client::new(&sdk),
        }
    }
}

/// Creates what is missing, then records every resource's physical ids in `stack`.
pub async fn bootstrap(template: &Template, stack: &mut Stack, clients: &Clients) -> Result<(), BoxError> {
    for (id, table) in template.of_type("AWS::DynamoDB::Table") {
        create_table(stack, clients, id, &table["Properties"]).await?;
    }
    // Queues first without redrive, so a redrive target exists before it is named.
    for (id, queue) in template.of_type("AWS::SQS::Queue") {
        create_queue(stack, clients, id, &queue["Properties"]).await?;
    }
    for (id, queue) in template.of_type("AWS::SQS::Queue") {
        if let Some(redrive) = queue.pointer("/Properties/RedrivePolicy") {
            set_redrive(stack, clients, id, redrive).await?;
        }
    }
    for (id, secret) in template.of_type("AWS::SecretsManager::Secret") {
        create_secret(stack, clients, id, secret).await?;
    }
    for (id, _) in template.of_type("AWS::Scheduler::ScheduleGroup") {
        let name = stack.physical_name(id, false);
        match clients.scheduler.create_schedule_group().name(&name).send().await {
            Ok(_) => tracing::info!(group = %name, "created schedule group"),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conflict_exception()) => {}
            Err(err) => return Err(err.into()),
        }
    }
    if let Some(Some(sender)) = stack.parameters.get(MAIL_FROM) {
        verify_sender(clients, sender).await?;
    }
    record_named(template, stack);
    Ok(())
}

/// The template parameter naming the sender of account mail.
const MAIL_FROM: &str = "MailFrom";

/// Makes `sender` (an address or a domain) a verified SES identity: SES v2
/// CreateEmailIdentity, which moto marks verified at once. An identity that exists
/// already is kept (moto replaces it, SES and LocalStack answer AlreadyExists).
async fn verify_sender(clients: &Clients, sender: &str) -> Result<(), BoxError> {
    match clients.ses.create_email_identity().email_identity(sender).send().await {
        Ok(_) => tracing::info!(identity = %sender, "verified the mail sender"),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Schedule groups, IAM roles and WebSocket APIs: what `!Ref` and `!GetAtt` of them give.
/// A WebSocket API's `ApiEndpoint` is the local gateway's ([`crate::live::endpoint`]).
fn record_named(template: &Template, stack: &mut Stack) {
    for (id, _) in template.of_type("AWS::ApiGatewayV2::Api") {
        let attributes = BTreeMap::from([("ApiEndpoint".to_owned(), crate::live::endpoint())]);
        stack.physical.insert(id.to_owned(), Physical { reference: stack.physical_name(id, false), attributes });
    }
    let account = crate::LOCAL_ACCOUNT_ID;
    let groups = template.of_type("AWS::Scheduler::ScheduleGroup").map(|(id, _)| (id, "scheduler"));
    for (id, service) in groups.chain(template.of_type("AWS::IAM::Role").map(|(id, _)| (id, "iam"))) {
        let name = stack.physical_name(id, false);
        let arn = match service {
            "iam" => format!("arn:aws:iam::{account}:role/{name}"),
            _ => format!("arn:aws:scheduler:{}:{account}:schedule-group/{name}", stack.region),
        };
        stack
            .physical
            .insert(id.to_owned(), Physical { reference: name, attributes: BTreeMap::from([("Arn".to_owned(), arn)]) });
    }
}

/// Looks up what bootstrap created (e.g. for the gateway, which starts after it).
pub async fn discover(template: &Template, stack: &mut Stack, clients: &Clients) -> Result<(), BoxError> {
    for (id, queue) in template.of_type("AWS::SQS::Queue") {
        let name = stack.physical_name(id, is_fifo(&queue["Properties"]));
        let url = clients.sqs.get_queue_url().queue_name(&name).send().await?.queue_url.unwrap_or_default();
        record_queue(stack, clients, id, &url).await?;
    }
    for (id, _) in template.of_type("AWS::DynamoDB::Table") {
        record_table(stack, clients, id).await?;
    }
    for (id, _) in template.of_type("AWS::SecretsManager::Secret") {
        let name = stack.physical_name(id, false);
        let arn = clients.secrets.describe_secret().secret_id(&name).send().await?.arn.unwrap_or(name.clone());
        record_secret(stack, id, &name, &arn);
    }
    record_named(template, stack);
    Ok(())
}

async fn create_table(stack: &mut Stack, clients: &Clients, id: &str, props: &Value) -> Result<(), BoxError> {
    let name = stack.physical_name(id, false);
    let mut request = clients
        .dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions(stack, &props["AttributeDefinitions"])?))
        .set_key_schema(Some(key_schema(stack, &props["KeySchema"])?));
    for index in props["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let projection = &index["Projection"];
        let non_key: Option<Vec<String>> = projection["NonKeyAttributes"]
            .as_array()
            .map(|attrs| attrs.iter().map(|a| stack.resolve(a)).collect::<Result<_, _>>())
            .transpose()?;
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(stack.resolve(&index["IndexName"])?)
                .set_key_schema(Some(key_schema(stack, &index["KeySchema"])?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection["ProjectionType"].as_str().unwrap_or("ALL")))
                        .set_non_key_attributes(non_key)
                        .build(),
                )
                .build()?,
        );
    }
    let stream = stream_specification(stack, props)?;
    match request.set_stream_specification(stream.clone()).send().await {
        Ok(_) => tracing::info!(table = %name, "created table"),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
            if let Some(stream) = stream {
                enable_stream(clients, &name, stream).await?;
            }
        }
        Err(err) => return Err(err.into()),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification").filter(|t| t["Enabled"] == true) {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(stack.resolve(&ttl["AttributeName"])?)
            .enabled(true)
            .build()?;
        let result =
            clients.dynamodb.update_time_to_live().table_name(&name).time_to_live_specification(spec).send().await;
        // Enabling TTL twice is an error on AWS and LocalStack; the state it asks for holds.
        if let Err(err) = result
            && !format!("{err:?}").contains("already enabled")
        {
            return Err(err.into());
        }
    }
    record_table(stack, clients, id).await
}

/// The template's `StreamSpecification`, as CreateTable takes it (`None`: no stream).
fn stream_specification(stack: &Stack, props: &Value) -> Result<Option<StreamSpecification>, BoxError> {
    let Some(view) = props.pointer("/StreamSpecification/StreamViewType") else { return Ok(None) };
    let view = StreamViewType::from(stack.resolve(view)?.as_str());
    Ok(Some(StreamSpecification::builder().stream_enabled(true).stream_view_type(view).build()?))
}

/// Turns on the stream of a table created before the template declared one. A table
/// whose stream is already on is left alone (its records are kept).
async fn enable_stream(clients: &Clients, name: &str, stream: StreamSpecification) -> Result<(), BoxError> {
    let table = clients.dynamodb.describe_table().table_name(name).send().await?.table;
    if table.and_then(|t| t.stream_specification).is_some_and(|s| s.stream_enabled) {
        return Ok(());
    }
    clients.dynamodb.update_table().table_name(name).stream_specification(stream).send().await?;
    tracing::info!(table = %name, "enabled the table's stream");
    Ok(())
}

/// What `!Ref` (the name) and `!GetAtt` (`Arn`; `StreamArn` when the table has a
/// stream, its `LatestStreamArn`) of a table give.
async fn record_table(stack: &mut Stack, clients: &Clients, id: &str) -> Result<(), BoxError> {
    let name = stack.physical_name(id, false);
    let arn = format!("arn:aws:dynamodb:{}:{}:table/{name}", stack.region, crate::LOCAL_ACCOUNT_ID);
    let mut attributes = BTreeMap::from([("Arn".to_owned(), arn)]);
    let table = clients.dynamodb.describe_table().table_name(&name).send().await?.table;
    if let Some(stream_arn) = table.and_then(|t| t.latest_stream_arn) {
        attributes.insert("StreamArn".to_owned(), stream_arn);
    }
    stack.physical.insert(id.to_owned(), Physical { reference: name, attributes });
    Ok(())
}

fn attribute_definitions(stack: &Stack, value: &Value) -> Result<Vec<AttributeDefinition>, BoxError> {
    let items = value.as_array().ok_or("AttributeDefinitions must be a list")?;
    items
        .iter()
        .map(|d| {
            Ok(AttributeDefinition::builder()
                .attribute_name(stack.resolve(&d["AttributeName"])?)
                .attribute_type(ScalarAttributeType::from(stack.resolve(&d["AttributeType"])?.as_str()))
                .build()?)
        })
        .collect()
}

fn key_schema(stack: &Stack, value: &Value) -> Result<Vec<KeySchemaElement>, BoxError> {
    let items = value.as_array().ok_or("KeySchema must be a list")?;
    items
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(stack.resolve(&k["AttributeName"])?)
                .key_type(KeyType::from(stack.resolve(&k["KeyType"])?.as_str()))
                .build()?)
        })
        .collect()
}

fn is_fifo(props: &Value) -> bool {
    props["FifoQueue"] == true
}

/// Queue attributes that mean the same locally; encryption and policies are AWS-only.
const QUEUE_ATTRIBUTES: [(&str, QueueAttributeName); 5] = [
    ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
    ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
    ("DelaySeconds", QueueAttributeName::DelaySeconds),
    ("ReceiveMessageWaitTimeSeconds", QueueAttributeName::ReceiveMessageWaitTimeSeconds),
    ("ContentBasedDeduplication", QueueAttributeName::ContentBasedDeduplication),
];

async fn create_queue(stack: &mut Stack, clients: &Clients, id: &str, props: &Value) -> Result<(), BoxError> {
    let name = stack.physical_name(id, is_fifo(props));
    let mut request = clients.sqs.create_queue().queue_name(&name);
    if is_fifo(props) {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (property, attribute) in QUEUE_ATTRIBUTES {
        if let Some(value) = props.get(property) {
            request = request.attributes(attribute, stack.resolve(value)?);
        }
    }
    let url = request.send().await?.queue_url.ok_or("CreateQueue returned no URL")?;
    record_queue(stack, clients, id, &url).await
}

async fn record_queue(stack: &mut Stack, clients: &Clients, id: &str, url: &str) -> Result<(), BoxError> {
    let attributes =
        clients.sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or("queue has no ARN")?;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    stack.physical.insert(
        id.to_owned(),
        Physical {
            reference: url.to_owned(),
            attributes: BTreeMap::from([
                ("Arn".to_owned(), arn),
                ("QueueName".to_owned(), name),
                ("QueueUrl".to_owned(), url.to_owned()),
            ]),
        },
    );
    Ok(())
}

async fn set_redrive(stack: &Stack, clients: &Clients, id: &str, redrive: &Value) -> Result<(), BoxError> {
    let target = getatt_target(&redrive["deadLetterTargetArn"])
        .ok_or(format!("{id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn"))?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": stack.resolve(&redrive["deadLetterTargetArn"])?,
        "maxReceiveCount": scalar_string(&redrive["maxReceiveCount"]).parse::<u32>().map_err(|_| format!("{id}: maxReceiveCount must be a number"))?,
    });
    let url = &stack.physical[id].reference;
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await?;
    tracing::info!(queue = %id, dead_letter = %target, "set redrive policy");
    Ok(())
}

async fn create_secret(stack: &mut Stack, clients: &Clients, id: &str, secret: &Value) -> Result<(), BoxError> {
    let name = stack.physical_name(id, false);
    let local = secret.pointer("/Metadata/BallotLocal");
    let value = match (local.and_then(|l| l["Generate"].as_str()), local.and_then(|l| l["PublicCopyOf"].as_str())) {
        (Some("ed25519-key-set"), _) => keys::new_key_set()?,
        (Some(other), _) => return Err(format!("{id}: unknown BallotLocal.Generate {other:?}").into()),
        // Secrets are created in template order: the original exists already.
        (None, Some(original)) => {
            let original =
                clients.secrets.get_secret_value().secret_id(stack.physical_name(original, false)).send().await?;
            shared::auth::keys::KeySet::public_copy(original.secret_string().unwrap_or_default())?
        }
        (None, None) => keys::random_token(32),
    };
    let arn = match clients.secrets.create_secret().name(&name).secret_string(value).send().await {
        Ok(out) => {
            tracing::info!(secret = %name, "created secret");
            out.arn.unwrap_or(name.clone())
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
            clients.secrets.describe_secret().secret_id(&name).send().await?.arn.unwrap_or(name.clone())
        }
        Err(err) => return Err(err.into()),
    };
    record_secret(stack, id, &name, &arn);
    Ok(())
}

/// `!Ref` of a secret is its ARN, as in CloudFormation.
fn record_secret(stack: &mut Stack, id: &str, name: &str, arn: &str) {
    stack.physical.insert(
        id.to_owned(),
        Physical {
            reference: arn.to_owned(),
            attributes: BTreeMap::from([("Id".to_owned(), arn.to_owned()), ("Name".to_owned(), name.to_owned())]),
        },
    );
}
