# Reference values for `ikema analyze` beyond two arms (issue 15), computed with R survival.
# Run from the repository root:  Rscript tests/reference_r/analyze_reference.R
# Writes tests/reference_r/<case>/adsl.csv, adtte.csv (the ADaM inputs used) and tests/reference_r/expected.json.
# Methods: RMST and its SE as print(survfit(...), rmean = tau); landmarks as summary(survfit, times = );
# joint Cox with the arm as a factor (coxph, Efron ties, strata()); global log-rank (survdiff);
# CMH as mantelhaen.test(correct = TRUE / FALSE).
suppressMessages(library(survival))
shared <- normalizePath(file.path("..", "shared"))
out_dir <- file.path("tests", "reference_r")

num <- function(x) {
  if (length(x) == 0 || is.null(x)) return("null")
  if (is.na(x) || !is.finite(x)) return("null")
  sprintf("%.17g", x)
}
json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (is.null(nm)) return(paste0("[", paste(vapply(x, json, ""), collapse = ", "), "]"))
    return(paste0("{", paste(sprintf("\"%s\": %s", nm, vapply(x, json, "")), collapse = ", "), "}"))
  }
  if (is.character(x)) {
    v <- sprintf("\"%s\"", x)
  } else if (is.logical(x)) {
    v <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else {
    v <- vapply(x, num, "")
  }
  if (length(x) == 1) v else paste0("[", paste(v, collapse = ", "), "]")
}

rmst_of <- function(fit, tau) {
  tab <- summary(fit, rmean = tau)$table
  if (is.null(dim(tab))) tab <- t(as.matrix(tab))
  list(rmean = unname(tab[, "rmean"]), se = unname(tab[, "se(rmean)"]))
}

tte_case <- function(adsl, adtte, reference, strata, landmarks, conf_int = 0.95, conf_type = "log-log",
                     tau = NULL) {
  d <- merge(adtte, adsl, by = "USUBJID")
  d$arm <- relevel(factor(d$TRT01P), ref = reference)
  d$status <- 1 - d$CNSR
  arms <- levels(d$arm)
  if (is.null(tau)) tau <- min(tapply(d$AVAL, d$arm, max))
  res <- list(rmst_tau = tau, arms = list(), comparisons = list())
  z <- qnorm(0.975)
  rm <- list()
  for (a in arms) {
    s <- d[d$arm == a, ]
    fit <- survfit(Surv(AVAL, status) ~ 1, data = s, conf.int = conf_int, conf.type = conf_type)
    r <- rmst_of(fit, tau)
    rm[[a]] <- r
    sm <- summary(fit, times = landmarks)
    lm <- list()
    for (t in landmarks) {
      i <- match(t, sm$time)
      if (is.na(i)) {
        lm[[length(lm) + 1]] <- list(time = t, survival = NA, lcl = NA, ucl = NA, std_err = NA, n_risk = NA)
      } else {
        lm[[length(lm) + 1]] <- list(time = t, survival = sm$surv[i], lcl = sm$lower[i], ucl = sm$upper[i],
                                     std_err = sm$std.err[i], n_risk = sm$n.risk[i])
      }
    }
    tab <- summary(fit)$table
    res$arms[[a]] <- list(n = unname(tab["n.max"]), events = unname(tab["events"]), median = unname(tab["median"]),
                          median_lcl = unname(tab[grep("LCL", names(tab))]), median_ucl = unname(tab[grep("UCL", names(tab))]),
                          rmst = r$rmean, rmst_se = r$se, rmst_lcl = r$rmean - z * r$se, rmst_ucl = r$rmean + z * r$se,
                          landmarks = lm)
  }
  f <- if (length(strata)) as.formula(paste("Surv(AVAL, status) ~ arm + strata(", paste(strata, collapse = ", "), ")"))
       else Surv(AVAL, status) ~ arm
  cx <- coxph(f, data = d, ties = "efron")
  ci <- exp(confint(cx))
  sc <- summary(cx)$coefficients
  lr <- survdiff(f, data = d)
  res$logrank_chisq <- lr$chisq
  ex <- if (is.matrix(lr$exp)) rowSums(lr$exp) else lr$exp
  res$logrank_df <- sum(ex > 0) - 1
  res$logrank_p <- pchisq(lr$chisq, res$logrank_df, lower.tail = FALSE)
  for (a in arms[-1]) {
    k <- paste0("arm", a)
    dd <- rm[[a]]$rmean - rm[[reference]]$rmean
    se <- sqrt(rm[[a]]$se^2 + rm[[reference]]$se^2)
    pair <- droplevels(d[d$arm %in% c(reference, a), ])
    cp <- coxph(f, data = pair, ties = "efron")
    res$comparisons[[a]] <- list(hazard_ratio = unname(exp(coef(cx))[k]), hazard_ratio_ci = unname(ci[k, ]),
                                 hazard_ratio_p = unname(sc[k, "Pr(>|z|)"]),
                                 pairwise_hazard_ratio = unname(exp(coef(cp))), pairwise_hazard_ratio_ci = unname(exp(confint(cp))[1, ]),
                                 rmst_difference = dd, rmst_difference_ci = c(dd - z * se, dd + z * se),
                                 rmst_difference_p = 2 * pnorm(-abs(dd / se)))
  }
  res
}

write_case <- function(name, adsl, adtte) {
  dir.create(file.path(out_dir, name), showWarnings = FALSE, recursive = TRUE)
  write.csv(adsl, file.path(out_dir, name, "adsl.csv"), row.names = FALSE, na = "")
  write.csv(adtte, file.path(out_dir, name, "adtte.csv"), row.names = FALSE, na = "")
}

cases <- list()

# colon: death (etype 2), three arms; stratified by nodes > 4 (node4)
colon <- read.csv(file.path(shared, "data", "r-survival", "data", "colon.csv"))
colon <- colon[colon$etype == 2 & !is.na(colon$node4), ]
ids <- sprintf("COL-%04d", colon$id)
adsl <- data.frame(USUBJID = ids, TRT01P = ifelse(colon$rx == "Obs", "Observation", colon$rx),
                   STRAT1R = ifelse(colon$node4 == 1, ">4 nodes", "<=4 nodes"), ITTFL = "Y")
adtte <- data.frame(USUBJID = ids, PARAMCD = "OS", PARAM = "Overall survival (days)", AVAL = colon$time,
                    CNSR = 1 - colon$status)
write_case("colon3", adsl, adtte)
cases$colon3 <- list(reference_arm = "Observation", strata = list("STRAT1R"), landmarks = c(365, 730, 1826, 3000),
                     results = tte_case(adsl, adtte, "Observation", "STRAT1R", c(365, 730, 1826, 3000)))
cases$colon3_tau1000_log90 <- list(reference_arm = "Observation", strata = list("STRAT1R"), landmarks = c(365, 730),
                                   conf_level = 0.9, conf_type = "log", rmst_tau = 1000,
                                   results = tte_case(adsl, adtte, "Observation", "STRAT1R", c(365, 730), 0.9, "log", 1000))
cases$colon3_plain <- list(reference_arm = "Observation", strata = list(), landmarks = c(365, 730),
                           conf_level = 0.95, conf_type = "plain",
                           results = tte_case(adsl, adtte, "Observation", character(0), c(365, 730), 0.95, "plain"))

# veteran: four cell types, squamous as reference, stratified by prior therapy
vet <- read.csv(file.path(shared, "data", "r-survival", "data", "veteran.csv"))
ids <- sprintf("VET-%03d", seq_len(nrow(vet)))
adsl <- data.frame(USUBJID = ids, TRT01P = vet$celltype, STRAT1R = ifelse(vet$prior == 10, "prior therapy", "none"),
                   ITTFL = "Y")
adtte <- data.frame(USUBJID = ids, PARAMCD = "OS", PARAM = "Overall survival (days)", AVAL = vet$time,
                    CNSR = 1 - vet$status)
write_case("veteran4", adsl, adtte)
cases$veteran4 <- list(reference_arm = "squamous", strata = list("STRAT1R"), landmarks = c(30, 90, 180, 365, 1000),
                       results = tte_case(adsl, adtte, "squamous", "STRAT1R", c(30, 90, 180, 365, 1000)))

# CDISC pilot (safetyData's cdiscpilot01 ADaM): time to first dermatologic event, three arms, ITT population
pilot_dir <- file.path(shared, "data", "safetyData-cdiscpilot01", "csv")
padsl <- read.csv(gzfile(file.path(pilot_dir, "adam_adsl.csv.gz")), stringsAsFactors = FALSE)
padtte <- read.csv(gzfile(file.path(pilot_dir, "adam_adtte.csv.gz")), stringsAsFactors = FALSE)
padsl <- padsl[padsl$ITTFL == "Y", c("USUBJID", "TRT01P", "SITEGR1")]
padtte <- padtte[padtte$PARAMCD == "TTDE", c("USUBJID", "PARAMCD", "AVAL", "CNSR")]
cases$pilot_ttde <- list(reference_arm = "Placebo", strata = list(), landmarks = c(30, 60, 90, 182),
                         results = tte_case(padsl, padtte, "Placebo", character(0), c(30, 60, 90, 182)))
cases$pilot_ttde_site <- list(reference_arm = "Placebo", strata = list("SITEGR1"), landmarks = c(30, 60, 90, 182),
                              results = tte_case(padsl, padtte, "Placebo", "SITEGR1", c(30, 60, 90, 182)))

# CMH: mantelhaen.test on 2 x 2 x K tables given as [stratum][arm (experimental, reference)][responder, non-responder]
cmh_case <- function(tabs) {
  k <- length(tabs)
  x <- array(0, c(2, 2, k))
  for (s in seq_len(k)) x[, , s] <- matrix(unlist(tabs[[s]]), 2, 2, byrow = TRUE)
  m <- apply(x, c(1, 3), sum)[1, ]
  n <- apply(x, c(1, 3), sum)[2, ]
  kk <- apply(x, c(2, 3), sum)[1, ]
  tt <- apply(x, 3, sum)
  delta <- sum(x[1, 1, ] - m * kk / tt)
  u <- suppressWarnings(mantelhaen.test(x, correct = FALSE))
  cc <- suppressWarnings(mantelhaen.test(x, correct = TRUE))
  list(tables = tabs, delta = delta, chisq = unname(u$statistic), p = u$p.value,
       chisq_corrected = unname(cc$statistic), p_corrected = cc$p.value)
}
cmh <- list(
  small_delta = cmh_case(list(list(c(4, 1), c(2, 3)), list(c(1, 4), c(2, 3)), list(c(1, 2), c(2, 2)))),
  two_strata = cmh_case(list(list(c(8, 2), c(4, 6)), list(c(6, 4), c(3, 7)))),
  three_strata = cmh_case(list(list(c(30, 20), c(18, 32)), list(c(5, 5), c(2, 9)), list(c(12, 3), c(10, 6)))),
  no_responders = cmh_case(list(list(c(0, 5), c(0, 5)), list(c(0, 3), c(0, 4))))
)

# resp1 (shared reference ADRS, ORR): CMH with continuity correction, strata STRAT1R x STRAT2R
rdir <- file.path(shared, "reference", "survival", "resp1")
rs <- merge(read.csv(file.path(rdir, "adrs.csv")), read.csv(file.path(rdir, "adsl.csv")), by = "USUBJID")
rs$arm <- factor(rs$TRT01P, levels = c("Control", "Experimental"))
rs$resp <- factor(rs$RESPFL, levels = c("Y", "N"))
rs$stratum <- interaction(rs$STRAT1R, rs$STRAT2R, drop = TRUE)
rt <- mantelhaen.test(table(rs$arm, rs$resp, rs$stratum), correct = TRUE)
resp1 <- list(cmh_chisq_corrected = unname(rt$statistic), cmh_p_corrected = rt$p.value)

txt <- json(list(source = paste0(R.version.string, ", survival ", packageVersion("survival")),
                 cases = cases, cmh = cmh, resp1 = resp1))
writeLines(txt, file.path(out_dir, "expected.json"))
cat("wrote", file.path(out_dir, "expected.json"), "\n")
