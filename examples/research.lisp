; A research agent with recorded effects.  Every call to the model, the clock
; and the random source is an EffectRequested/EffectCompleted pair in the log,
; so the whole run can be replayed offline:
;
;   TAPE_LLM=script:examples/llm_script.json tape run examples/research.lisp -i research
;   tape replay -i research --verify        # no model is called; identical to the record
;   tape audit -i research --kind effect    # every call, its duration and payload size
;   tape blame -i research summary          # which form and which answer produced it

(define started (now))

(define questions '("who supplies widgets?" "what do widgets cost?" "which supplier is cheapest?"))

(define (research q)
  ; one model call per question; the answer is a fact the agent can query later
  (let ((answer (ask q :model "offline" :system "answer in one line")))
    (assert! (list 'answer q answer))
    answer))

(define answers (map research questions))

(define pick (nth questions (random (length questions))))

(define summary
  (ask (str "summarise: " (apply str (map (lambda (a) (str a "; ")) answers))) :model "offline"))

(write-file! "summary.txt" summary)
(println "asked" (length questions) "questions; spot check:" pick)
(println summary)
