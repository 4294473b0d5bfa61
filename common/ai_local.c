/*
 * The local, deterministic analyzer: skills by taxonomy extraction, features
 * and project type by keyword rules, complexity from scope, tasks from
 * feature templates scaled by complexity with dependencies, risks from
 * features. Same brief in, same analysis out — no network. See tm/ai.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tm/ai.h"
#include "tm/util.h"

#define LOCAL_MODEL "local-v1"
#define TEXT_MAX (64u << 10) /* bytes of brief the analyzer reads */

/* ---- keyword rules ---- */

struct rule {
	const char *name;
	const char *const *words; /* lower-case words or phrases, matched on word boundaries */
};

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct rule feature_rules[] = {
	{"auth", WORDS("login", "log in", "sign up", "signup", "sign-up", "register",
		       "registration", "authentication", "accounts", "user account",
		       "user accounts", "password", "oauth", "sso", "profiles")},
	{"payments", WORDS("pay", "payment", "payments", "checkout", "card", "cards", "stripe",
			   "paypal", "billing", "invoice", "invoices", "payout", "payouts")},
	{"subscriptions", WORDS("subscription", "subscriptions", "recurring", "membership",
				"memberships", "monthly plan", "plans")},
	{"admin_dashboard", WORDS("admin", "admin panel", "dashboard", "back office", "backoffice",
				  "back-office", "cms")},
	{"search", WORDS("search", "filter", "filters", "filtering", "find")},
	{"chat", WORDS("chat", "messaging", "direct messages", "inbox")},
	{"notifications", WORDS("notification", "notifications", "push", "reminder", "reminders",
				"alerts", "email alerts", "sms")},
	{"file_upload", WORDS("upload", "uploads", "photos", "photo", "images", "documents",
			      "attachments", "files")},
	{"maps",
	 WORDS("map", "maps", "location", "locations", "gps", "geolocation", "nearby", "geo")},
	{"analytics",
	 WORDS("analytics", "metrics", "charts", "statistics", "stats", "insights", "kpi", "kpis")},
	{"reporting", WORDS("report", "reports", "reporting", "export", "exports", "pdf")},
	{"realtime", WORDS("real-time", "realtime", "real time", "live", "websocket", "websockets",
			   "instant", "instantly")},
	{"api", WORDS("api", "apis", "rest", "graphql", "endpoints", "integration", "integrations",
		      "webhook", "webhooks", "third-party", "third party")},
	{"mobile_ui", WORDS("mobile", "ios", "android", "iphone", "responsive", "mobile-friendly",
			    "mobile friendly", "phone", "phones", "tablet")},
	{"ci_cd", WORDS("ci/cd", "ci", "continuous integration", "continuous deployment",
			"pipeline", "pipelines", "github actions")},
	{"ml_model", WORDS("machine learning", "ml", "model", "models", "predict", "prediction",
			   "predictions", "recommendation", "recommendations", "classifier",
			   "classification", "nlp", "llm", "ai", "computer vision")},
	{"data_ingest", WORDS("etl", "ingest", "ingestion", "import", "imports", "data pipeline",
			      "scrape", "scraping", "csv", "feeds")},
	{"reviews", WORDS("review", "reviews", "rating", "ratings", "feedback")},
	{"booking", WORDS("booking", "bookings", "book", "appointment", "appointments",
			  "reservation", "reservations", "schedule", "scheduling", "calendar")},
	{"inventory", WORDS("inventory", "stock", "warehouse", "sku", "skus")},
	{"i18n", WORDS("multi-language", "multilingual", "multiple languages", "translation",
		       "translations", "i18n", "localization", "localisation", "languages")},
	{"offline", WORDS("offline", "no connection", "without internet")},
};

/* Project types: strong phrases count 3, weak ones 1; the highest score wins,
 * earlier rules on a tie. */
struct type_rule {
	const char *name;
	const char *const *strong, *const *weak;
};

static const struct type_rule type_rules[] = {
	{"marketplace", WORDS("marketplace", "two-sided", "multi-vendor", "food delivery"),
	 WORDS("sellers", "buyers", "vendors", "listings", "freelancers", "couriers", "hosts",
	       "commission", "restaurants")},
	{"ecommerce",
	 WORDS("e-commerce", "ecommerce", "online store", "online shop", "webshop", "storefront",
	       "shopify", "woocommerce", "magento"),
	 WORDS("shop", "cart", "add to cart", "products", "checkout", "orders")},
	{"game", WORDS("game", "gameplay", "multiplayer", "unity", "unreal", "godot"),
	 WORDS("levels", "players", "leaderboard")},
	{"ml",
	 WORDS("machine learning", "recommendation engine", "computer vision", "llm", "gpt",
	       "chatbot", "classifier", "neural network", "fine-tune", "rag"),
	 WORDS("predict", "prediction", "predictions", "recommendations", "nlp", "embeddings",
	       "ai")},
	{"data_pipeline",
	 WORDS("etl", "data pipeline", "data warehouse", "airflow", "scraper", "scraping",
	       "telemetry", "bigquery", "snowflake", "dbt"),
	 WORDS("ingest", "ingestion", "warehouse", "spark", "kafka", "crawl", "feeds")},
	{"devops",
	 WORDS("devops", "kubernetes", "terraform", "ci/cd", "monorepo", "k8s", "helm", "ansible",
	       "infrastructure as code"),
	 WORDS("ci", "pipelines", "build times", "deployments", "github actions", "monitoring",
	       "infrastructure")},
	{"mobile_app",
	 WORDS("mobile app", "ios app", "android app", "app store", "play store", "react native",
	       "flutter", "iphone app"),
	 WORDS("ios", "android", "iphone", "mobile")},
	{"api",
	 WORDS("rest api", "graphql api", "public api", "api only", "backend only", "microservice",
	       "microservices", "sdk"),
	 WORDS("endpoints", "webhooks", "integration")},
	{"web_app",
	 WORDS("web app", "webapp", "website", "saas", "crm", "lms", "portal", "landing page",
	       "web application"),
	 WORDS("web", "site", "browser", "dashboard", "admin panel", "wordpress")},
	{"other",
	 WORDS("bot", "discord", "slack bot", "browser extension", "chrome extension", "script",
	       "firmware", "raspberry pi", "cli tool", "command-line"),
	 WORDS("extension", "automation", "sensors")},
};

static bool word_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* True if `phrase` occurs in `text` (both lower-case) on word boundaries. */
static bool has_phrase(const char *text, const char *phrase)
{
	size_t pl = strlen(phrase);
	for (const char *p = strstr(text, phrase); p; p = strstr(p + 1, phrase)) {
		bool left = p == text || !word_char((unsigned char)p[-1]);
		bool right = !word_char((unsigned char)p[pl]);
		if (left && right)
			return true;
	}
	return false;
}

static int rule_score(const char *text, const struct rule *r)
{
	int n = 0;
	for (const char *const *w = r->words; *w; w++)
		n += has_phrase(text, *w);
	return n;
}

/* ---- task templates ---- */

enum stage { SETUP, DATA, BACKEND, FRONTEND, FEATURE_BACKEND, FEATURE_UI, QA, LAUNCH };

struct template
{
	const char *when; /* a feature name, or "type:<project type>", or "always" */
	const char *title;
	const char *description;
	int hours; /* at medium complexity */
	const char *level, *priority;
	enum stage stage;
	const char *categories; /* taxonomy categories whose detected skills it uses */
	const char *defaults;	/* skills used when the brief names none of those */
};

static const struct template templates[] = {
	{"always", "Project setup and architecture",
	 "Repository, environments, coding standards and the architecture the rest builds on.", 12,
	 "senior", "high", SETUP, "backend,language,cloud,platform", ""},
	/* the core by project type */
	{"core:data", "Data model and database", "Schema, migrations and seed data for the domain.",
	 16, "mid", "high", DATA, "database", "SQL"},
	{"core:backend", "Backend services and API",
	 "The server side: business rules, endpoints and validation.", 40, "mid", "high", BACKEND,
	 "backend,api,language", "REST API"},
	{"core:web", "Web front end", "Pages, navigation and state for the main user journeys.", 40,
	 "mid", "high", FRONTEND, "frontend", "JavaScript,HTML,CSS"},
	{"core:mobile", "Mobile app screens", "Native or cross-platform screens and navigation.",
	 48, "mid", "high", FRONTEND, "mobile", ""},
	{"type:data_pipeline", "Pipeline jobs and scheduling",
	 "Extraction, transformation and loading jobs with retries and scheduling.", 40, "mid",
	 "high", BACKEND, "data,database,cloud", "SQL"},
	{"type:ml", "Model training and evaluation",
	 "Baseline, training runs and an evaluation against held-out data.", 48, "senior", "high",
	 BACKEND, "ml,language", "Machine learning"},
	{"type:ml", "Model serving", "An API that serves predictions with monitoring.", 20,
	 "senior", "medium", FEATURE_BACKEND, "ml,backend,api", ""},
	{"type:devops", "Infrastructure as code", "Environments described and provisioned as code.",
	 32, "senior", "high", BACKEND, "devops,cloud", ""},
	{"type:devops", "Monitoring and alerting", "Metrics, logs, dashboards and on-call alerts.",
	 16, "mid", "medium", FEATURE_BACKEND, "devops,cloud", ""},
	{"type:game", "Core gameplay loop", "Player controls, rules and the main loop.", 60,
	 "senior", "high", BACKEND, "game,language", ""},
	{"type:game", "Levels and content", "Levels, assets and progression.", 40, "mid", "medium",
	 FEATURE_BACKEND, "game,design", ""},
	{"type:game", "Game UI and menus", "HUD, menus, settings and feedback.", 24, "mid",
	 "medium", FEATURE_UI, "game,design", ""},
	/* features */
	{"auth", "User accounts and authentication",
	 "Sign-up, login, password reset and roles, with secure session handling.", 16, "mid",
	 "high", FEATURE_BACKEND, "security,backend", ""},
	{"payments", "Payments and checkout",
	 "Card payments through a provider, receipts and refunds; no card data stored.", 24,
	 "senior", "high", FEATURE_BACKEND, "ecommerce,backend", ""},
	{"subscriptions", "Subscriptions and billing", "Plans, recurring charges and dunning.", 20,
	 "senior", "medium", FEATURE_BACKEND, "ecommerce,backend", ""},
	{"admin_dashboard", "Admin dashboard",
	 "Back-office screens to manage users, content and orders.", 24, "mid", "medium",
	 FEATURE_UI, "frontend", ""},
	{"search", "Search and filters", "Full-text search with filters and sorting.", 16, "mid",
	 "medium", FEATURE_BACKEND, "database,backend", ""},
	{"chat", "Chat and messaging", "Conversations with delivery and read state.", 32, "senior",
	 "medium", FEATURE_BACKEND, "backend,api", ""},
	{"notifications", "Notifications", "E-mail and push notifications with preferences.", 12,
	 "mid", "medium", FEATURE_BACKEND, "backend,cloud", ""},
	{"file_upload", "File and image uploads", "Uploads, storage, thumbnails and limits.", 12,
	 "mid", "medium", FEATURE_BACKEND, "cloud,backend", ""},
	{"maps", "Maps and location", "Maps, geocoding and distance search.", 16, "mid", "medium",
	 FEATURE_UI, "frontend,mobile", ""},
	{"analytics", "Analytics", "Tracking, aggregates and charts for the key metrics.", 20,
	 "mid", "low", FEATURE_BACKEND, "data,database", ""},
	{"reporting", "Reports and exports", "Scheduled and on-demand reports, CSV/PDF exports.",
	 12, "mid", "low", FEATURE_BACKEND, "backend,data", ""},
	{"realtime", "Real-time updates", "Live updates over WebSockets or server-sent events.", 20,
	 "senior", "medium", FEATURE_BACKEND, "backend,api", ""},
	{"api", "Integrations and public API", "Third-party integrations and documented endpoints.",
	 16, "mid", "medium", FEATURE_BACKEND, "api,backend", ""},
	{"mobile_ui", "Responsive and mobile UI", "Layouts and interactions for small screens.", 16,
	 "mid", "medium", FEATURE_UI, "frontend,mobile,design", ""},
	{"ci_cd", "CI/CD pipeline", "Automated builds, tests and deployments.", 12, "mid", "medium",
	 FEATURE_BACKEND, "devops", ""},
	{"ml_model", "Machine-learning feature", "Data, model and integration of the prediction.",
	 32, "senior", "medium", FEATURE_BACKEND, "ml", ""},
	{"data_ingest", "Data ingestion", "Importers for the client's data sources.", 24, "mid",
	 "medium", FEATURE_BACKEND, "data,database", ""},
	{"reviews", "Ratings and reviews", "Reviews with moderation and average ratings.", 12,
	 "mid", "low", FEATURE_BACKEND, "backend", ""},
	{"booking", "Booking and scheduling", "Availability, bookings, reminders and conflicts.",
	 24, "mid", "high", FEATURE_BACKEND, "backend,database", ""},
	{"inventory", "Inventory management", "Stock levels, adjustments and alerts.", 20, "mid",
	 "medium", FEATURE_BACKEND, "backend,database", ""},
	{"i18n", "Internationalization", "Translations, locales, currencies and dates.", 12, "mid",
	 "low", FEATURE_UI, "frontend", ""},
	{"offline", "Offline support", "Local storage and sync when the connection returns.", 20,
	 "senior", "medium", FEATURE_UI, "mobile,frontend", ""},
	/* closing */
	{"always", "Testing and QA", "Automated tests for the critical paths and a QA pass.", 0,
	 "mid", "high", QA, "testing", ""},
	{"always", "Deployment and launch", "Production environment, monitoring and go-live.", 8,
	 "mid", "high", LAUNCH, "devops,cloud", ""},
};

/* ---- building the analysis ---- */

struct plan {
	const struct tm_taxonomy *tax;
	const char *type;
	bool features[TM_ARRAY_LEN(feature_rules)];
	int skills[TM_AI_SKILLS_MAX];
	size_t nskills;
	double scale; /* hours multiplier from the complexity */
};

static bool type_in(const char *type, const char *list)
{
	return has_phrase(list, type); /* the list is "a b c" with underscores kept */
}

static bool has_feature(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < TM_ARRAY_LEN(feature_rules); i++)
		if (p->features[i] && strcmp(feature_rules[i].name, name) == 0)
			return true;
	return false;
}

/* Does a template belong in this plan? */
static bool applies(const struct plan *p, const struct template *t)
{
	if (strcmp(t->when, "always") == 0)
		return true;
	if (strcmp(t->when, "core:data") == 0)
		return !type_in(p->type, "devops game");
	if (strcmp(t->when, "core:backend") == 0)
		return type_in(p->type, "web_app marketplace ecommerce other mobile_app api");
	if (strcmp(t->when, "core:web") == 0)
		return type_in(p->type, "web_app marketplace ecommerce other");
	if (strcmp(t->when, "core:mobile") == 0)
		return strcmp(p->type, "mobile_app") == 0;
	if (strncmp(t->when, "type:", 5) == 0)
		return strcmp(p->type, t->when + 5) == 0;
	/* a feature the project's type already covers is not planned twice */
	if ((strcmp(t->when, "ml_model") == 0 && strcmp(p->type, "ml") == 0) ||
	    (strcmp(t->when, "mobile_ui") == 0 && strcmp(p->type, "mobile_app") == 0))
		return false;
	return has_feature(p, t->when);
}

/* The skills a task of template t uses: detected ones of its categories, else its defaults. */
static void task_skills(const struct plan *p, const struct template *t, struct tm_ai_task *task,
			struct tm_arena *a)
{
	task->skills = tm_arena_alloc(a, 8 * sizeof(char *));
	task->nskills = 0;
	if (!task->skills)
		return;
	for (size_t i = 0; i < p->nskills && task->nskills < 4; i++) {
		const struct tm_skill *s = tm_taxonomy_skill(p->tax, p->skills[i]);
		if (s && has_phrase(t->categories, s->category))
			task->skills[task->nskills++] = (char *)s->name;
	}
	for (const char *d = t->defaults; task->nskills == 0 && *d;) {
		char name[64];
		size_t l = strcspn(d, ",");
		snprintf(name, sizeof(name), "%.*s", (int)l, d);
		const struct tm_skill *s = tm_taxonomy_find(p->tax, name);
		if (s && task->nskills < 4)
			task->skills[task->nskills++] = (char *)s->name;
		d += l + (d[l] == ',');
	}
}

/* Keys of the tasks a task at `stage` waits for. */
static void link_task(struct tm_ai_task *tasks, const enum stage *stages, size_t n, size_t i,
		      struct tm_arena *a)
{
	static const enum stage wants[][3] = {
		[SETUP] = {SETUP, SETUP, SETUP}, /* none */
		[DATA] = {SETUP, SETUP, SETUP},
		[BACKEND] = {DATA, SETUP, SETUP},
		[FRONTEND] = {BACKEND, SETUP, SETUP},
		[FEATURE_BACKEND] = {BACKEND, DATA, SETUP},
		[FEATURE_UI] = {FRONTEND, BACKEND, SETUP},
	};
	tasks[i].depends_on = tm_arena_alloc(a, TM_AI_TASKS_MAX * sizeof(char *));
	tasks[i].ndepends = 0;
	if (!tasks[i].depends_on || stages[i] == SETUP)
		return;
	for (size_t k = 0; k < n; k++) {
		bool dep;
		if (stages[i] == QA)
			dep = stages[k] != QA && stages[k] != LAUNCH && stages[k] != SETUP;
		else if (stages[i] == LAUNCH)
			dep = stages[k] == QA;
		else
			continue;
		if (dep)
			tasks[i].depends_on[tasks[i].ndepends++] = tasks[k].key;
	}
	if (stages[i] == QA || stages[i] == LAUNCH)
		return;
	/* the nearest earlier stage that exists in the plan */
	for (int w = 0; w < 3 && tasks[i].ndepends == 0; w++)
		for (size_t k = 0; k < n; k++)
			if (k != i && stages[k] == wants[stages[i]][w])
				tasks[i].depends_on[tasks[i].ndepends++] = tasks[k].key;
}

static int type_score(const char *text, const struct type_rule *r)
{
	int n = 0;
	for (const char *const *w = r->strong; *w; w++)
		n += 3 * has_phrase(text, *w);
	for (const char *const *w = r->weak; *w; w++)
		n += has_phrase(text, *w);
	return n;
}

static const char *detect_type(const char *text, const struct plan *p)
{
	int best = 0;
	const char *type = "other";
	for (size_t i = 0; i < TM_ARRAY_LEN(type_rules); i++) {
		int s = type_score(text, &type_rules[i]);
		if (s > best) { /* strictly greater: earlier rules win ties */
			best = s;
			type = type_rules[i].name;
		}
	}
	/* named skills settle what the words leave open */
	for (size_t i = 0; best == 0 && i < p->nskills; i++) {
		const struct tm_skill *s = tm_taxonomy_skill(p->tax, p->skills[i]);
		if (s && strcmp(s->category, "mobile") == 0)
			type = "mobile_app";
		else if (s && strcmp(s->category, "game") == 0)
			type = "game";
		else if (s && strcmp(s->category, "ml") == 0)
			type = "ml";
	}
	return type;
}

static void build_risks(const struct plan *p, size_t text_len, struct tm_ai_analysis *an)
{
	static const struct {
		const char *feature, *risk;
	} by_feature[] = {
		{"payments",
		 "Card payments must go through a PCI-DSS compliant provider; no card data "
		 "may be stored."},
		{"realtime", "Real-time features need load testing and connection scaling."},
		{"chat", "Chat needs moderation, abuse reporting and data retention rules."},
		{"ml_model", "Model quality depends on data the client must provide; agree on an "
			     "evaluation baseline early."},
		{"maps", "Map and geocoding APIs have usage costs and quotas."},
		{"data_ingest",
		 "Source data formats and quality are unknown until samples arrive."},
		{"i18n", "Translations and locale rules add review rounds for every language."},
		{"offline", "Offline sync needs a conflict-resolution policy."},
		{"booking", "Double bookings and time zones need explicit rules."},
	};
	size_t n = 0;
	for (size_t i = 0; i < TM_ARRAY_LEN(by_feature) && n < TM_AI_RISKS_MAX - 3; i++)
		if (has_feature(p, by_feature[i].feature))
			an->risks[n++] = (char *)by_feature[i].risk;
	if (strcmp(p->type, "marketplace") == 0)
		an->risks[n++] = "A two-sided marketplace needs trust and safety: verification, "
				 "moderation and disputes.";
	if (strcmp(p->type, "mobile_app") == 0 || has_feature(p, "mobile_ui"))
		an->risks[n++] = "App-store review and testing on real devices add time.";
	if (text_len < 200)
		an->risks[n++] = "The brief is short: scope and acceptance criteria must be agreed "
				 "before the estimate is firm.";
	if (n == 0)
		an->risks[n++] = "Requirements tend to change once the first version is in users' "
				 "hands; keep a change budget.";
	an->nrisks = n;
}

/* Lower-cased copy of title and brief, bounded. */
static char *lower_text(const char *title, const char *description, struct tm_arena *a)
{
	size_t tl = strnlen(title, TEXT_MAX), dl = strnlen(description, TEXT_MAX);
	char *s = tm_arena_alloc(a, tl + dl + 2);
	if (!s)
		return NULL;
	memcpy(s, title, tl);
	s[tl] = '\n';
	memcpy(s + tl + 1, description, dl);
	s[tl + dl + 1] = '\0';
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return s;
}

/* Complexity from the scope: features, skills and how much the client wrote. */
static const char *complexity_of(size_t nfeatures, size_t nskills, size_t len, double *scale)
{
	double score = (double)nfeatures + (double)nskills / 3.0 + (len > 1500) + (len > 4000);
	if (score <= 3) {
		*scale = 0.75;
		return "low";
	}
	if (score <= 8) {
		*scale = 1.0;
		return "medium";
	}
	*scale = 1.4;
	return "high";
}

static void summarize(const struct plan *p, struct tm_ai_analysis *an, const char *title,
		      struct tm_arena *a)
{
	static const struct {
		const char *type, *noun;
	} nouns[] = {{"web_app", "web application"},
		     {"mobile_app", "mobile app"},
		     {"api", "API / backend service"},
		     {"data_pipeline", "data pipeline"},
		     {"ml", "machine-learning system"},
		     {"ecommerce", "online store"},
		     {"devops", "infrastructure and delivery project"},
		     {"game", "game"},
		     {"marketplace", "marketplace"},
		     {"other", "software project"}};
	const char *noun = "software project";
	struct tm_buf b;
	for (size_t i = 0; i < TM_ARRAY_LEN(nouns); i++)
		if (strcmp(nouns[i].type, p->type) == 0)
			noun = nouns[i].noun;
	tm_buf_init(&b);
	tm_buf_printf(&b, "%.120s: a %s complexity %s", title, an->complexity, noun);
	for (size_t i = 0; i < an->nfeatures; i++)
		tm_buf_printf(&b, "%s%s",
			      i == 0 ? " with " : (i + 1 == an->nfeatures ? " and " : ", "),
			      an->features[i]);
	for (size_t i = 0; i < an->nskills && i < 6; i++)
		tm_buf_printf(&b, "%s%s", i == 0 ? ", built with " : ", ", an->required_skills[i]);
	tm_buf_puts(&b, ".");
	for (char *c = b.data; c && *c; c++)
		if (*c == '_')
			*c = ' ';
	an->summary = b.failed ? NULL : tm_arena_strdup(a, b.data);
	tm_buf_free(&b);
}

/* Instantiates the applicable templates as tasks with keys, skills, hours, links. */
static int build_tasks(const struct plan *p, struct tm_ai_analysis *an, struct tm_arena *a)
{
	enum stage stages[TM_AI_TASKS_MAX];
	size_t n = 0;
	int work = 0;

	an->tasks = tm_arena_alloc(a, TM_AI_TASKS_MAX * sizeof(*an->tasks));
	if (!an->tasks)
		return -1;
	for (size_t i = 0; i < TM_ARRAY_LEN(templates) && n < TM_AI_TASKS_MAX; i++) {
		const struct template *t = &templates[i];
		if (!applies(p, t))
			continue;
		struct tm_ai_task *task = &an->tasks[n];
		snprintf(task->key, sizeof(task->key), "T%zu", n + 1);
		task->title = (char *)t->title;
		task->description = (char *)t->description;
		task->hours = (int32_t)lround(t->hours * p->scale);
		if (task->hours < 1)
			task->hours = 1;
		snprintf(task->level, sizeof(task->level), "%s", t->level);
		snprintf(task->priority, sizeof(task->priority), "%s", t->priority);
		task_skills(p, t, task, a);
		if (t->stage != QA && t->stage != LAUNCH)
			work += task->hours;
		stages[n++] = t->stage;
	}
	for (size_t i = 0; i < n; i++) {
		if (stages[i] == QA) /* testing grows with the work: 15 %, at least a day */
			an->tasks[i].hours = work * 15 / 100 > 8 ? work * 15 / 100 : 8;
		link_task(an->tasks, stages, n, i, a);
		if (!an->tasks[i].depends_on || !an->tasks[i].skills)
			return -1;
	}
	an->ntasks = n;
	return tm_ai_check_graph(an->tasks, n, NULL) ? -1 : 0;
}

int tm_ai_local_analyze(const struct tm_taxonomy *t, const char *title, const char *description,
			struct tm_arena *a, struct tm_ai_analysis **out, char *err, size_t errlen)
{
	struct plan p = {.tax = t};
	struct tm_ai_analysis *an = tm_arena_alloc(a, sizeof(*an));
	char *text = lower_text(title, description, a);

	*out = NULL;
	if (!an || !text || !t) {
		snprintf(err, errlen, !t ? "no skill taxonomy loaded" : "out of memory");
		return -1;
	}
	/* skills from the text as written: the taxonomy tells "Go" from "go" by case */
	char *orig = tm_arena_printf(a, "%.*s\n%.*s", (int)strnlen(title, TEXT_MAX), title,
				     (int)strnlen(description, TEXT_MAX), description);
	if (!orig) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p.nskills = tm_taxonomy_extract(t, orig, p.skills, TM_AI_SKILLS_MAX);
	an->required_skills = tm_arena_alloc(a, (p.nskills + 1) * sizeof(char *));
	an->features = tm_arena_alloc(a, (TM_ARRAY_LEN(feature_rules) + 1) * sizeof(char *));
	an->risks = tm_arena_alloc(a, (TM_AI_RISKS_MAX + 1) * sizeof(char *));
	if (!an->required_skills || !an->features || !an->risks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p.nskills; i++)
		an->required_skills[an->nskills++] =
			(char *)tm_taxonomy_skill(t, p.skills[i])->name;
	for (size_t i = 0; i < TM_ARRAY_LEN(feature_rules); i++)
		if ((p.features[i] = rule_score(text, &feature_rules[i]) > 0))
			an->features[an->nfeatures++] = (char *)feature_rules[i].name;
	p.type = detect_type(text, &p);
	snprintf(an->project_type, sizeof(an->project_type), "%s", p.type);
	snprintf(an->complexity, sizeof(an->complexity), "%s",
		 complexity_of(an->nfeatures, p.nskills, strlen(text), &p.scale));
	summarize(&p, an, title, a);
	build_risks(&p, strlen(text), an);
	if (!an->summary || build_tasks(&p, an, a) != 0) {
		snprintf(err, errlen, "the local analyzer could not build a plan");
		return -1;
	}
	snprintf(an->source, sizeof(an->source), "local");
	snprintf(an->model, sizeof(an->model), LOCAL_MODEL);
	*out = an;
	return 0;
}

/* ---- hashed n-gram embeddings ---- */

static uint64_t fnv1a(const char *s, size_t n, uint64_t seed)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* Adds one feature with the signed-hashing trick. */
static void add_feature(float *v, int dims, const char *s, size_t n, uint64_t kind, float w)
{
	uint64_t h = fnv1a(s, n, kind);
	v[h % (uint64_t)dims] += (h >> 63) ? -w : w;
}

void tm_ai_local_embed(const char *text, int dims, float *out)
{
	char norm[8192];
	size_t n = 0, prev_start = 0, prev_len = 0;
	bool space = true;

	memset(out, 0, (size_t)dims * sizeof(float));
	/* lower-case words separated by single spaces */
	for (const char *c = text; *c && n + 2 < sizeof(norm); c++) {
		unsigned char ch = (unsigned char)*c;
		if (word_char(ch) || ch == '+' || ch == '#') {
			norm[n++] = (char)tolower(ch);
			space = false;
		} else if (!space) {
			norm[n++] = ' ';
			space = true;
		}
	}
	norm[n] = '\0';
	for (size_t i = 0; i < n;) {
		size_t l = strcspn(norm + i, " ");
		add_feature(out, dims, norm + i, l, 1, 1.0f); /* word */
		if (prev_len) {				      /* word pair */
			add_feature(out, dims, norm + prev_start, i + l - prev_start, 2, 0.5f);
		}
		for (size_t k = 0; l >= 3 && k + 3 <= l; k++) /* character trigrams */
			add_feature(out, dims, norm + i + k, 3, 3, 0.25f);
		prev_start = i;
		prev_len = l;
		i += l + 1;
	}
	double sum = 0;
	for (int i = 0; i < dims; i++)
		sum += (double)out[i] * out[i];
	if (sum > 0) {
		float inv = (float)(1.0 / sqrt(sum));
		for (int i = 0; i < dims; i++)
			out[i] *= inv;
	}
}
