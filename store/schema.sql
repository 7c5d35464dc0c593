-- The schema store/migrations.ts builds on PostgreSQL without TimescaleDB (`npm run schema:dump`).
-- Generated: edit the migrations, never this file.

--
-- PostgreSQL database dump
--

--
-- Name: alert_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_events (
    event_id text NOT NULL,
    alert_id text NOT NULL,
    type text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    by text NOT NULL,
    comment text,
    data jsonb NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    key_id text
);

--
-- Name: alert_feedback; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_feedback (
    id bigint NOT NULL,
    alert_id text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    by text NOT NULL,
    label text NOT NULL,
    failure_mode text,
    comment text,
    key_id text,
    CONSTRAINT alert_feedback_label_check CHECK ((label = ANY (ARRAY['true_positive'::text, 'false_positive'::text])))
);

--
-- Name: alert_feedback_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alert_feedback_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: alert_feedback_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.alert_feedback_id_seq OWNED BY public.alert_feedback.id;

--
-- Name: alert_rules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_rules (
    id text NOT NULL,
    rule jsonb NOT NULL,
    source text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alert_rules_source_check CHECK ((source = ANY (ARRAY['config'::text, 'api'::text])))
);

--
-- Name: alerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alerts (
    id text NOT NULL,
    plant text NOT NULL,
    asset text NOT NULL,
    rule text NOT NULL,
    state text NOT NULL,
    opened_window timestamp with time zone NOT NULL,
    last_window timestamp with time zone NOT NULL,
    resolved_window timestamp with time zone,
    peak_score double precision NOT NULL,
    model_version text NOT NULL,
    contributions jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text DEFAULT 'anomaly'::text NOT NULL,
    severity text DEFAULT 'warning'::text NOT NULL,
    acknowledged_by text,
    acknowledged_at timestamp with time zone,
    snoozed_until timestamp with time zone,
    resolved_by text,
    unack_escalated boolean DEFAULT false NOT NULL,
    doc jsonb,
    CONSTRAINT alerts_state_check CHECK ((state = ANY (ARRAY['open'::text, 'acknowledged'::text, 'resolved'::text])))
);

--
-- Name: align_checkpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.align_checkpoints (
    partition_key text NOT NULL,
    state jsonb NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id text NOT NULL,
    name text NOT NULL,
    hash text NOT NULL,
    scopes text[] NOT NULL,
    plants text[] DEFAULT '{}'::text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone
);

--
-- Name: asset_checkpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.asset_checkpoints (
    partition_key text NOT NULL,
    asset text NOT NULL,
    part text NOT NULL,
    state text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (fillfactor='50', toast_tuple_target='8160');
ALTER TABLE ONLY public.asset_checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;

--
-- Name: asset_owners; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.asset_owners (
    asset text NOT NULL,
    plant text NOT NULL,
    claimed_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: assets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.assets (
    plant text NOT NULL,
    asset text NOT NULL,
    first_window timestamp with time zone NOT NULL,
    last_window timestamp with time zone NOT NULL,
    last_status text NOT NULL,
    last_score double precision,
    last_model text NOT NULL,
    contributions jsonb DEFAULT '{}'::jsonb NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: dead_letters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dead_letters (
    record_key text NOT NULL,
    source text NOT NULL,
    code text NOT NULL,
    reason text NOT NULL,
    value bytea,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: images; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.images (
    plant text NOT NULL,
    asset text NOT NULL,
    camera text NOT NULL,
    ts timestamp with time zone NOT NULL,
    kind text NOT NULL,
    width integer,
    height integer,
    unit text,
    data real[],
    encoding text,
    base64 text,
    uri text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    coding jsonb
);
ALTER TABLE ONLY public.images ALTER COLUMN base64 SET STORAGE EXTERNAL;

--
-- Name: late_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.late_records (
    record_key text NOT NULL,
    modality text NOT NULL,
    plant text NOT NULL,
    asset text,
    reason text NOT NULL,
    value jsonb NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: maintenance_windows; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.maintenance_windows (
    id text NOT NULL,
    plant text NOT NULL,
    asset text NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    reason text NOT NULL,
    created_by text NOT NULL,
    key_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT maintenance_windows_check CHECK ((ends_at >= starts_at))
);

--
-- Name: model_activations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.model_activations (
    id bigint NOT NULL,
    version text NOT NULL,
    previous text,
    action text NOT NULL,
    by text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT model_activations_action_check CHECK ((action = ANY (ARRAY['activate'::text, 'rollback'::text, 'register'::text])))
);

--
-- Name: model_activations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.model_activations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: model_activations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.model_activations_id_seq OWNED BY public.model_activations.id;

--
-- Name: model_drift; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.model_drift (
    model_version text NOT NULL,
    plant text NOT NULL,
    at timestamp with time zone NOT NULL,
    windows integer NOT NULL,
    max_psi double precision NOT NULL,
    psi jsonb NOT NULL
);

--
-- Name: model_params; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.model_params (
    model_version text NOT NULL,
    asset text NOT NULL,
    kind text NOT NULL,
    params jsonb NOT NULL,
    fitted_at timestamp with time zone DEFAULT now() NOT NULL,
    reference_to timestamp with time zone NOT NULL
);

--
-- Name: models; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.models (
    version text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    metrics jsonb DEFAULT '{}'::jsonb NOT NULL,
    card text DEFAULT ''::text NOT NULL,
    trained_from timestamp with time zone,
    trained_to timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    activated_at timestamp with time zone,
    threshold double precision,
    CONSTRAINT models_state_check CHECK ((state = ANY (ARRAY['active'::text, 'shadow'::text, 'retired'::text])))
);

--
-- Name: notes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notes (
    id text NOT NULL,
    plant text NOT NULL,
    asset text,
    author text NOT NULL,
    ts timestamp with time zone NOT NULL,
    text text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: partition_owners; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.partition_owners (
    partition_key text NOT NULL,
    epoch bigint NOT NULL,
    claimed_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: readings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.readings (
    plant text NOT NULL,
    asset text NOT NULL,
    device text NOT NULL,
    channel text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    n integer NOT NULL,
    t_offset_ms integer[] NOT NULL,
    v double precision[] NOT NULL
);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    id integer NOT NULL,
    name text NOT NULL,
    timescale boolean NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: score_rollup_1h; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.score_rollup_1h (
    plant text NOT NULL,
    asset text NOT NULL,
    model_version text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    windows integer NOT NULL,
    sum_score double precision NOT NULL,
    max_score double precision,
    above integer NOT NULL,
    threshold double precision NOT NULL
);

--
-- Name: score_rollup_1m; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.score_rollup_1m (
    plant text NOT NULL,
    asset text NOT NULL,
    model_version text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    windows integer NOT NULL,
    sum_score double precision NOT NULL,
    max_score double precision,
    above integer NOT NULL,
    threshold double precision NOT NULL
);

--
-- Name: score_rollup_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.score_rollup_day (
    plant text NOT NULL,
    asset text NOT NULL,
    model_version text NOT NULL,
    day timestamp with time zone NOT NULL,
    cells bytea NOT NULL
);

--
-- Name: scores; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.scores (
    plant text NOT NULL,
    asset text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    model_version text NOT NULL,
    status text NOT NULL,
    score double precision,
    contributions jsonb NOT NULL,
    quality jsonb NOT NULL,
    image_ts timestamp with time zone,
    note_count integer NOT NULL,
    scored_at timestamp with time zone DEFAULT now() NOT NULL,
    revision integer DEFAULT 0 NOT NULL,
    explanation jsonb,
    CONSTRAINT scores_status_check CHECK ((status = ANY (ARRAY['reference'::text, 'scored'::text, 'unscorable'::text])))
);

--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    event_id text NOT NULL,
    endpoint_id text NOT NULL,
    attempt integer NOT NULL,
    at timestamp with time zone NOT NULL,
    status integer,
    error text,
    duration_ms integer NOT NULL
);

--
-- Name: webhook_endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_endpoints (
    id text NOT NULL,
    url text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    secrets jsonb DEFAULT '[]'::jsonb NOT NULL,
    filters jsonb DEFAULT '{}'::jsonb NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    failing_since timestamp with time zone,
    source text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_endpoints_source_check CHECK ((source = ANY (ARRAY['config'::text, 'api'::text])))
);

--
-- Name: webhook_outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_outbox (
    event_id text NOT NULL,
    endpoint_url text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_status integer,
    last_error text,
    delivered_at timestamp with time zone,
    failed_at timestamp with time zone,
    endpoint_id text NOT NULL
);

--
-- Name: alert_feedback id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_feedback ALTER COLUMN id SET DEFAULT nextval('public.alert_feedback_id_seq'::regclass);

--
-- Name: model_activations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_activations ALTER COLUMN id SET DEFAULT nextval('public.model_activations_id_seq'::regclass);

--
-- Name: alert_events alert_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_events
    ADD CONSTRAINT alert_events_pkey PRIMARY KEY (event_id);

--
-- Name: alert_feedback alert_feedback_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_feedback
    ADD CONSTRAINT alert_feedback_pkey PRIMARY KEY (id);

--
-- Name: alert_rules alert_rules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_pkey PRIMARY KEY (id);

--
-- Name: alerts alerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);

--
-- Name: align_checkpoints align_checkpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.align_checkpoints
    ADD CONSTRAINT align_checkpoints_pkey PRIMARY KEY (partition_key);

--
-- Name: api_keys api_keys_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_hash_key UNIQUE (hash);

--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

--
-- Name: asset_checkpoints asset_checkpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.asset_checkpoints
    ADD CONSTRAINT asset_checkpoints_pkey PRIMARY KEY (partition_key, asset, part);

--
-- Name: asset_owners asset_owners_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.asset_owners
    ADD CONSTRAINT asset_owners_pkey PRIMARY KEY (asset);

--
-- Name: assets assets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.assets
    ADD CONSTRAINT assets_pkey PRIMARY KEY (asset);

--
-- Name: dead_letters dead_letters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (record_key);

--
-- Name: images images_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.images
    ADD CONSTRAINT images_pkey PRIMARY KEY (asset, camera, ts);

--
-- Name: late_records late_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.late_records
    ADD CONSTRAINT late_records_pkey PRIMARY KEY (record_key);

--
-- Name: maintenance_windows maintenance_windows_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.maintenance_windows
    ADD CONSTRAINT maintenance_windows_pkey PRIMARY KEY (id);

--
-- Name: model_activations model_activations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_activations
    ADD CONSTRAINT model_activations_pkey PRIMARY KEY (id);

--
-- Name: model_drift model_drift_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_drift
    ADD CONSTRAINT model_drift_pkey PRIMARY KEY (model_version, plant, at);

--
-- Name: model_params model_params_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_params
    ADD CONSTRAINT model_params_pkey PRIMARY KEY (model_version, asset);

--
-- Name: models models_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (version);

--
-- Name: notes notes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notes
    ADD CONSTRAINT notes_pkey PRIMARY KEY (id, ts);

--
-- Name: partition_owners partition_owners_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.partition_owners
    ADD CONSTRAINT partition_owners_pkey PRIMARY KEY (partition_key);

--
-- Name: readings readings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.readings
    ADD CONSTRAINT readings_pkey PRIMARY KEY (asset, channel, device, window_start);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (id);

--
-- Name: score_rollup_1h score_rollup_1h_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.score_rollup_1h
    ADD CONSTRAINT score_rollup_1h_pkey PRIMARY KEY (asset, model_version, bucket);

--
-- Name: score_rollup_1m score_rollup_1m_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.score_rollup_1m
    ADD CONSTRAINT score_rollup_1m_pkey PRIMARY KEY (asset, model_version, bucket);

--
-- Name: score_rollup_day score_rollup_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.score_rollup_day
    ADD CONSTRAINT score_rollup_day_pkey PRIMARY KEY (asset, model_version, day);

--
-- Name: scores scores_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.scores
    ADD CONSTRAINT scores_pkey PRIMARY KEY (asset, window_start, model_version, revision);

--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (event_id, endpoint_id, attempt);

--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);

--
-- Name: webhook_outbox webhook_outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_outbox
    ADD CONSTRAINT webhook_outbox_pkey PRIMARY KEY (event_id, endpoint_id);

--
-- Name: alert_events_alert; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_events_alert ON public.alert_events USING btree (alert_id, at);

--
-- Name: alert_events_recorded; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_events_recorded ON public.alert_events USING btree (recorded_at);

--
-- Name: alert_feedback_alert; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_feedback_alert ON public.alert_feedback USING btree (alert_id);

--
-- Name: alerts_one_active; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX alerts_one_active ON public.alerts USING btree (asset, rule) WHERE (state <> 'resolved'::text);

--
-- Name: alerts_recent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alerts_recent ON public.alerts USING btree (created_at DESC, id);

--
-- Name: assets_plant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX assets_plant ON public.assets USING btree (plant, asset);

--
-- Name: assets_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX assets_updated ON public.assets USING btree (updated_at);

--
-- Name: maintenance_windows_asset; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX maintenance_windows_asset ON public.maintenance_windows USING btree (asset, ends_at DESC);

--
-- Name: models_one_active; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX models_one_active ON public.models USING btree (state) WHERE (state = 'active'::text);

--
-- Name: notes_asset_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX notes_asset_time ON public.notes USING btree (asset, ts DESC);

--
-- Name: readings_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX readings_time ON public.readings USING btree (window_start DESC);

--
-- Name: score_rollup_1h_plant_bucket_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX score_rollup_1h_plant_bucket_idx ON public.score_rollup_1h USING btree (plant, bucket);

--
-- Name: score_rollup_1h_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX score_rollup_1h_time ON public.score_rollup_1h USING btree (model_version, bucket DESC, asset);

--
-- Name: score_rollup_1m_plant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX score_rollup_1m_plant ON public.score_rollup_1m USING btree (plant, bucket);

--
-- Name: score_rollup_1m_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX score_rollup_1m_time ON public.score_rollup_1m USING btree (model_version, bucket DESC, asset);

--
-- Name: score_rollup_day_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX score_rollup_day_time ON public.score_rollup_day USING btree (model_version, day DESC, asset);

--
-- Name: scores_plant_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scores_plant_time ON public.scores USING btree (plant, window_start DESC);

--
-- Name: scores_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scores_time ON public.scores USING btree (window_start DESC);

--
-- Name: webhook_attempts_endpoint; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_attempts_endpoint ON public.webhook_attempts USING btree (endpoint_id, at DESC);

--
-- Name: webhook_outbox_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_outbox_due ON public.webhook_outbox USING btree (next_attempt_at) WHERE ((delivered_at IS NULL) AND (failed_at IS NULL));

--
-- PostgreSQL database dump complete
--
