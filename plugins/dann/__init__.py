"""Domain-adversarial training (Ganin & Lempitsky 2015). (Being written.)"""
