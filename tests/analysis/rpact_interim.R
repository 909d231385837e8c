# Reference values for the SAP's interim look (tests/analysis/test_group_sequential.py): rpact 3.3.4
# getDesignGroupSequential(typeOfDesign = "asOF") at observed information fractions of the interim look
# (events / 159 planned), final look at full information; one-sided alpha 0.025.
# Run: Rscript tests/analysis/rpact_interim.R > tests/analysis/rpact_interim.json
suppressMessages(library(rpact))
fractions <- c(103, 80, 95, 110, 130, 150) / 159
rows <- lapply(fractions, function(t) {
  d <- getDesignGroupSequential(kMax = 2, alpha = 0.025, sided = 1, typeOfDesign = "asOF",
                                informationRates = c(t, 1))
  sprintf('{"information_fraction": %.15g, "boundary_z": [%.15g, %.15g], "alpha_spent": [%.15g, %.15g], "stagewise_p": [%.15g, %.15g]}',
          t, d$criticalValues[1], d$criticalValues[2], d$alphaSpent[1], d$alphaSpent[2],
          d$stageLevels[1], d$stageLevels[2])
})
cat(sprintf('{"source": "rpact %s getDesignGroupSequential(typeOfDesign = \\"asOF\\", alpha = 0.025, sided = 1)",\n "designs": [\n  %s\n ]}\n',
            as.character(packageVersion("rpact")), paste(unlist(rows), collapse = ",\n  ")))
